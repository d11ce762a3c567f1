package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/translate"
)

// The services of a pod share one network namespace: two that listen on
// one port cannot both run (the second fails with "address already in
// use"). translate warns when the compose file declares one port twice
// (ports, expose); the images' EXPOSE lines are known only here, once the
// images are there. A clash they show is a warning, not an error: EXPOSE
// is a hint, and a command may move the server to another port.

// warnPortClashes logs a warning for every container port that the image
// of one service exposes and another service declares or exposes too.
func warnPortClashes(ctx context.Context, log *slog.Logger, plan *translate.PodPlan, images map[string]client.Image) {
	type claim struct{ service, how string }
	claims := map[string][]claim{} // "port/proto" → who listens there
	for _, s := range plan.Services {
		for _, p := range s.Ports {
			key := fmt.Sprintf("%d/%s", p.ContainerPort, proto(p))
			claims[key] = append(claims[key], claim{s.Name, "ports"})
		}
	}
	for _, s := range plan.Services {
		img, ok := images[s.Name]
		if !ok {
			continue
		}
		spec, err := img.Spec(ctx)
		if err != nil {
			continue // the service's own spec reports it
		}
		for port := range spec.Config.ExposedPorts {
			key := strings.ToLower(port)
			if !strings.Contains(key, "/") {
				key += "/tcp"
			}
			if !slices.ContainsFunc(claims[key], func(c claim) bool { return c.service == s.Name }) {
				claims[key] = append(claims[key], claim{s.Name, "its image " + img.Name() + " exposes it"})
			}
		}
	}
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cs := claims[k]
		fromImage := slices.ContainsFunc(cs, func(c claim) bool { return c.how != "ports" })
		if len(cs) < 2 || !fromImage {
			continue // one listener, or a clash of the file's own, which translate warned about
		}
		who := make([]string, len(cs))
		for i, c := range cs {
			who[i] = fmt.Sprintf("%s (%s)", c.service, c.how)
		}
		log.Warn(fmt.Sprintf("container port %s is claimed by several services: %s; services of a pod share one network namespace, so only one of them can listen on it: move the others to other ports", k, strings.Join(who, ", ")),
			"port", k)
	}
}
