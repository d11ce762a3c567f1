package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/compod/compod/runtime"
)

func cmdLogs(ctx context.Context, args []string) error {
	var g globals
	fs := newFlags("logs", &g)
	project := fs.String("p", "", "pod (project) name")
	follow := fs.Bool("f", false, "follow the output")
	fs.BoolVar(follow, "follow", false, "follow the output")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errors.Join(errUsage, err)
	}
	if *project == "" {
		return errors.Join(errUsage, fmt.Errorf("give the pod: compod logs -p NAME [SERVICE]"))
	}
	if len(pos) > 1 {
		return errors.Join(errUsage, fmt.Errorf("one service at most, got %v", pos))
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	opts := runtime.LogOptions{Follow: *follow, Prefix: len(pos) == 0}
	if len(pos) == 1 {
		opts.Service = pos[0]
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return eng.Logs(ctx, *project, opts, os.Stdout)
}
