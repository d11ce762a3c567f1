package runtime

// Container labels: every container compod creates names its pod and
// service, so `ctr -n compod containers ls` shows what belongs to what, and
// compod can find a pod's containers without its own records.
const (
	LabelPod     = "compod.pod"
	LabelService = "compod.service"
	LabelRole    = "compod.role" // "sandbox" or "service"
	// LabelInstance is the compod instance (names.go) whose pod the
	// container is: two instances that share a containerd namespace (two
	// state dirs) must not take each other's containers for their own.
	// Containers of an older compod have none.
	LabelInstance = "compod.instance"
	// LabelStateDir is that instance's state dir, for the error that
	// names the instance that holds a pod name.
	LabelStateDir = "compod.state-dir"

	roleSandbox = "sandbox"
	roleService = "service"

	// The docker-compose labels, so tools that know them keep working.
	labelComposeProject = "com.docker.compose.project"
	labelComposeService = "com.docker.compose.service"
)

func sandboxID(pod string) string          { return pod + "_pause" }
func serviceID(pod, service string) string { return pod + "_" + service }
