package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/compod/compod/internal/pauseimage"
)

// Pull policies (compose pull_policy and `compod up --pull`).
const (
	PullMissing = "missing"
	PullAlways  = "always"
	PullNever   = "never"
)

// pullAttempts and pullBackoff bound how hard compod tries a registry:
// a registry that is briefly down (restarting, overloaded) should not fail a
// pod, one that is really gone should fail it within seconds.
const (
	pullAttempts = 4
	pullBackoff  = 500 * time.Millisecond
)

// NormalizeImage turns a compose image name into the full reference
// containerd stores ("busybox" → "docker.io/library/busybox:latest").
func NormalizeImage(name string) (string, error) {
	named, err := reference.ParseDockerRef(name)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

// ensureImage returns the image ref in the engine's namespace, pulling it
// according to policy, unpacked into the default snapshotter.
// A pull reports its progress to progress, when not nil.
func (e *Engine) ensureImage(ctx context.Context, ref, policy string, progress func(PullProgress)) (client.Image, error) {
	if policy == "" {
		policy = PullMissing
	}
	if policy != PullAlways {
		img, err := e.client.GetImage(ctx, ref)
		if err == nil {
			return img, e.unpack(ctx, img)
		}
		if !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("looking up image %s: %w", ref, err)
		}
		if policy == PullNever {
			return nil, fmt.Errorf("image %s is not present and the pull policy is %q: import it (ctr -n %s images import) or allow pulling", ref, PullNever, e.namespace)
		}
	}
	return e.pull(ctx, ref, progress)
}

// pull pulls ref with retries; progress, when not nil, gets a report
// every pullProgressInterval and a last one (Done or Err) before pull
// returns, from one goroutine at a time.
func (e *Engine) pull(ctx context.Context, ref string, progress func(PullProgress)) (img client.Image, err error) {
	opts := []client.RemoteOpt{client.WithPullUnpack}
	if progress != nil {
		t := &pullTracker{image: ref, store: e.client.ContentStore(), started: time.Now()}
		opts = append(opts, client.WithImageHandlerWrapper(t.wrap))
		stop := make(chan struct{})
		reporting := t.reportPull(ctx, progress, stop)
		defer func() {
			close(stop)
			<-reporting
			last := t.progress(context.WithoutCancel(ctx))
			if err == nil {
				last = finished(last)
			}
			last.Err = err
			progress(last)
		}()
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		// Registries on loopback (a local registry, tests) speak plain HTTP.
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	var lastErr error
	delay := pullBackoff
	for attempt := 1; attempt <= pullAttempts; attempt++ {
		img, err := e.client.Pull(ctx, ref, append(opts, client.WithResolver(resolver))...)
		if err == nil {
			e.log.Info("image pulled", "image", ref, "attempt", attempt)
			return img, nil
		}
		lastErr = err
		if errdefs.IsNotFound(err) || ctx.Err() != nil {
			break // the registry answered: retrying will not make it appear
		}
		e.log.Warn("pulling image failed, retrying", "image", ref, "attempt", attempt, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay *= 2
	}
	return nil, fmt.Errorf("pulling image %s: %w", ref, lastErr)
}

func (e *Engine) unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, "")
	if err != nil {
		return fmt.Errorf("checking image %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, ""); err != nil {
		return fmt.Errorf("unpacking image %s: %w", img.Name(), err)
	}
	return nil
}

// ensureSandboxImage returns the pause image: the configured one, or
// compod's built-in one imported on first use.
func (e *Engine) ensureSandboxImage(ctx context.Context, progress func(PullProgress)) (client.Image, error) {
	if e.sandboxImage != "" {
		return e.ensureImage(ctx, e.sandboxImage, PullMissing, progress)
	}
	img, err := pauseimage.Ensure(ctx, e.client, pauseimage.DefaultRef)
	if err != nil {
		return nil, fmt.Errorf("importing the built-in pause image: %w", err)
	}
	return img, e.unpack(ctx, img)
}

// ensureImages ensures every service image, in parallel, and returns them by
// service name. The error names the service and image.
func (e *Engine) ensureImages(ctx context.Context, services []serviceRef, globalPolicy string, progress func(PullProgress)) (map[string]client.Image, error) {
	type result struct {
		svc string
		img client.Image
		err error
	}
	results := make(chan result, len(services))
	for _, s := range services {
		go func() {
			policy := globalPolicy
			if s.pullPolicy != "" && (globalPolicy == "" || globalPolicy == PullMissing) {
				policy = s.pullPolicy
			}
			img, err := e.ensureImage(ctx, s.image, policy, progress)
			results <- result{s.name, img, err}
		}()
	}
	images := map[string]client.Image{}
	var errs []error
	for range services {
		r := <-results
		if r.err != nil {
			errs = append(errs, fmt.Errorf("service %q: field \"image\": %w", r.svc, r.err))
			continue
		}
		images[r.svc] = r.img
		e.log.Debug("image ready", "service", r.svc, "image", r.img.Name())
	}
	return images, errors.Join(errs...)
}

type serviceRef struct{ name, image, pullPolicy string }
