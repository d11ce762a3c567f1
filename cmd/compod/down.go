package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

func cmdDown(ctx context.Context, args []string) error {
	var g globals
	var files stringList
	fs := newFlags("down", &g)
	project := fs.String("p", "", "pod (project) name")
	fs.StringVar(project, "project-name", "", "pod (project) name")
	fs.Var(&files, "f", "compose file, to take the pod name from (repeatable)")
	timeout := fs.Int("t", -1, "seconds to wait for each service to stop before SIGKILL (default: its stop_grace_period)")
	fs.IntVar(timeout, "timeout", -1, "same as -t")
	if _, err := parseInterleaved(fs, args); err != nil {
		return errors.Join(errUsage, err)
	}
	name, err := podName(ctx, *project, files)
	if err != nil {
		return err
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	var opts runtime.DownOptions
	if *timeout >= 0 {
		d := time.Duration(*timeout) * time.Second
		opts.Timeout = &d
	}
	if err := eng.Down(ctx, name, opts); err != nil {
		return err
	}
	fmt.Printf("pod %s removed\n", name)
	return nil
}

// podName takes the pod name from -p, or from the compose files as `up`
// would name the pod.
func podName(ctx context.Context, project string, files []string) (string, error) {
	if project != "" {
		return project, nil
	}
	if len(files) == 0 {
		files = defaultComposeFiles()
	}
	if len(files) == 0 {
		return "", fmt.Errorf("which pod? give -p NAME (see `compod ps`) or -f FILE")
	}
	plan, err := translate.Load(ctx, translate.LoadOptions{Files: files})
	if err != nil {
		return "", err
	}
	return plan.Name, nil
}
