package runtime

import (
	"bytes"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/compod/compod/translate"
)

// security_opt apparmor=NAME: the service runs under that AppArmor
// profile, which must be loaded on the host. compod applies no AppArmor
// profile otherwise, so apparmor=unconfined changes nothing; a named
// profile on a host without AppArmor is an error naming the field, as a
// silently unconfined service would be a surprise.

func appArmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && bytes.HasPrefix(data, []byte("Y"))
}

func appArmorOpt(svc *translate.ServiceSpec) (oci.SpecOpts, error) {
	if svc.AppArmorProfile == "unconfined" {
		return nil, nil
	}
	if !appArmorEnabled() {
		return nil, fmt.Errorf("service %q: field \"security_opt\": apparmor=%s: AppArmor is not enabled on this host: remove the option, or run the pod where AppArmor is", svc.Name, svc.AppArmorProfile)
	}
	return oci.WithApparmorProfile(svc.AppArmorProfile), nil
}
