package runtime

// Container labels: every container compod creates names its pod and
// service, so `ctr -n compod containers ls` shows what belongs to what, and
// compod can find a pod's containers without its own records.
const (
	LabelPod     = "compod.pod"
	LabelService = "compod.service"
	LabelRole    = "compod.role" // "sandbox" or "service"

	roleSandbox = "sandbox"
	roleService = "service"

	// The docker-compose labels, so tools that know them keep working.
	labelComposeProject = "com.docker.compose.project"
	labelComposeService = "com.docker.compose.service"
)

func sandboxID(pod string) string          { return pod + "_pause" }
func serviceID(pod, service string) string { return pod + "_" + service }
