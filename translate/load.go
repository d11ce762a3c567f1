package translate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadOptions says which compose files make the pod and how to read them.
// The fields mirror docker compose's flags.
type LoadOptions struct {
	// Files are the compose files, in merge order (required, at least one).
	Files []string
	// ProjectName is -p. Default: COMPOSE_PROJECT_NAME, else the name:
	// field, else the project directory's name (compose-go's rules).
	ProjectName string
	// WorkingDir is the project directory. Default: the first file's dir.
	WorkingDir string
	// EnvFiles are --env-file. Default: .env in WorkingDir, if present.
	EnvFiles []string
	// Profiles to enable. Default: COMPOSE_PROFILES.
	Profiles []string
	// Environ is the environment used for interpolation; nil means
	// os.Environ(). It wins over the env files, as in docker compose.
	Environ map[string]string
}

// Load reads, merges and interpolates the compose files and translates the
// project into a validated PodPlan. Every unsupported compose field is
// either an error or a warning in the plan. Errors are *Error values (or
// several joined with errors.Join), naming file, service and field.
func Load(ctx context.Context, opts LoadOptions) (*PodPlan, error) {
	_, plan, err := LoadProject(ctx, opts)
	return plan, err
}

// LoadProject is Load that also returns the compose model the plan was
// translated from: merged, interpolated, paths resolved, env_file and
// label_file merged into environment and labels (what `compod config`
// prints, as `docker compose config` does). The project is returned only
// with a plan: a model compod refuses to run is an error.
func LoadProject(ctx context.Context, opts LoadOptions) (*types.Project, *PodPlan, error) {
	project, idx, err := loadProject(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	plan, err := translateProject(project, idx)
	if err != nil {
		return nil, nil, err
	}
	return project, plan, nil
}

// loadProject reads, merges and interpolates the compose files.
func loadProject(ctx context.Context, opts LoadOptions) (*types.Project, *fileIndex, error) {
	if len(opts.Files) == 0 {
		return nil, nil, errors.New("no compose file given")
	}
	files := make([]string, len(opts.Files))
	for i, f := range opts.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, nil, &Error{File: f, Msg: err.Error(), Err: err}
		}
		files[i] = abs
	}
	workingDir := opts.WorkingDir
	if workingDir == "" {
		workingDir = filepath.Dir(files[0])
	}
	workingDir, err := filepath.Abs(workingDir)
	if err != nil {
		return nil, nil, fmt.Errorf("project directory %s: %w", opts.WorkingDir, err)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil, &Error{File: displayPath(workingDir, f), Msg: "compose file not found", Err: err}
		case err != nil:
			return nil, nil, &Error{File: displayPath(workingDir, f), Msg: "cannot read compose file: " + err.Error(), Err: err}
		case fi.IsDir():
			return nil, nil, &Error{File: displayPath(workingDir, f), Msg: "is a directory, not a compose file"}
		}
	}
	if opts.ProjectName != "" {
		if err := ValidatePodName(opts.ProjectName); err != nil {
			return nil, nil, err
		}
	}

	env, err := environment(opts, workingDir)
	if err != nil {
		return nil, nil, err
	}
	idx := newFileIndex(workingDir, files)

	popts, err := cli.NewProjectOptions(files,
		// First: the options below read the environment (COMPOSE_PROFILES).
		func(o *cli.ProjectOptions) error { o.Environment = env; return nil },
		cli.WithWorkingDirectory(workingDir),
		cli.WithName(opts.ProjectName),
		cli.WithDefaultProfiles(opts.Profiles...),
		cli.WithResolvedPaths(true),
		// Our own checks replace compose-go's consistency check: they
		// catch the same mistakes but name the file, service and field.
		cli.WithConsistency(false),
		// env_file and label_file are resolved per service by
		// resolveFiles, so that a missing file names its service.
		cli.WithoutEnvironmentResolution,
		cli.WithoutLabelsResolution,
	)
	if err != nil {
		return nil, nil, err
	}
	var project *types.Project
	idx.logged = captureComposeLog(func() { project, err = popts.LoadProject(ctx) })
	if err != nil {
		return nil, nil, idx.wrapComposeError(err)
	}
	if err := ValidatePodName(project.Name); err != nil {
		return nil, nil, &Error{File: idx.fileFor("", "name"), Field: "name", Msg: err.Error() + ": set name: in the compose file, or give a project name (-p)", Err: err}
	}
	return project, idx, nil
}

// environment is the interpolation environment: the process environment
// over the env files (.env by default).
func environment(opts LoadOptions, workingDir string) (types.Mapping, error) {
	environ := opts.Environ
	if environ == nil {
		environ = map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				environ[k] = v
			}
		}
	}
	envFiles := opts.EnvFiles
	if len(envFiles) == 0 {
		dotEnv := filepath.Join(workingDir, ".env")
		if fi, err := os.Stat(dotEnv); err == nil && fi.Mode().IsRegular() {
			envFiles = []string{dotEnv}
		}
	}
	// One file at a time so that an error names its file; a later file
	// overrides an earlier one and may refer to its variables.
	fromFiles := map[string]string{}
	for _, f := range envFiles {
		lookup := maps.Clone(fromFiles)
		maps.Copy(lookup, environ)
		vars, err := dotenv.GetEnvFromFile(lookup, []string{f})
		if err != nil {
			return nil, &Error{File: displayPath(workingDir, absOr(f)), Msg: "env file: " + err.Error(), Err: err}
		}
		maps.Copy(fromFiles, vars)
	}
	env := types.Mapping{}
	maps.Copy(env, fromFiles)
	maps.Copy(env, environ)
	return env, nil
}

func absOr(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
