package runtime

import (
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/compod/compod/internal/logfile"
	"github.com/compod/compod/internal/loggerbin"
	"github.com/compod/compod/translate"
)

// Each service's output goes to one log file, written by a log writer that
// the containerd shim runs for the task (containerd's binary log driver,
// internal/logfile): output keeps reaching the file while compod is not
// running (`up -d`, executor restarts). The writer is the small
// cmd/compod-logger, embedded in compod and written into <state dir>/bin
// at first use; compod's own binary can play the part too (`compod
// shim-logger …`), which is the fallback when the embedded one cannot run.

// IsShimLogger tells whether args (without the program name) are the
// command line the shim starts a log writer with.
func IsShimLogger(args []string) bool { return logfile.IsShimLogger(args) }

// RunShimLogger is the body of `compod shim-logger FILE [max-size N] [max-file N]`.
func RunShimLogger(args []string) error { return logfile.RunShimLogger(args) }

// WithLogDir puts the pods' service logs into dir (<dir>/<service>.log)
// instead of each pod's <state dir>/pods/<pod>/logs: the executor's is the
// Mesos sandbox. A pod's record keeps where its logs went.
func WithLogDir(dir string) Option { return func(e *Engine) { e.logDirOverride = dir } }

// WithLogWriter names the log writer program (default: the embedded one).
func WithLogWriter(path string) Option { return func(e *Engine) { e.logWriter = path } }

// podLogDir is where a pod's service logs are.
func (e *Engine) podLogDir(rec *PodRecord) string {
	if rec.LogDir != "" {
		return rec.LogDir
	}
	return filepath.Join(e.podDir(rec.Plan.Name), "logs")
}

// makeLogDir makes a pod's log directory. One of compod's own gets compod's
// mode; one it was given (a Mesos sandbox) is left as it is.
func (e *Engine) makeLogDir(rec *PodRecord) error {
	if rec.LogDir != "" {
		return os.MkdirAll(rec.LogDir, modeLogDir)
	}
	return mkdirMode(e.podLogDir(rec), modeLogDir)
}

// serviceLog names a service's log file in a pod's log dir.
func serviceLog(dir, service string) string { return filepath.Join(dir, service+".log") }

// LogFile names a service's log file (rotated ones add .1, .2, …).
func (e *Engine) LogFile(pod, service string) (string, error) {
	rec, err := e.readRecord(pod)
	if err != nil {
		return "", err
	}
	return serviceLog(e.podLogDir(rec), service), nil
}

// taskIO sends a service's output to its log file, through the log writer,
// or nowhere for logging.driver none.
func (e *Engine) taskIO(rec *PodRecord, svc *translate.ServiceSpec) cio.Creator {
	if svc.Logging.Disabled {
		return cio.NullIO
	}
	args := logfile.Args(serviceLog(e.podLogDir(rec), svc.Name), svc.Logging.MaxSize, svc.Logging.MaxFiles)
	bin := e.logWriterBinary()
	if svc.Tty {
		return cio.TerminalBinaryIO(bin, args)
	}
	return cio.BinaryIO(bin, args)
}

// logWriterBinary is the log writer program: the configured one, else the
// embedded one installed into the state dir, else compod's own binary.
func (e *Engine) logWriterBinary() string {
	e.logWriterOnce.Do(func() {
		if e.logWriter != "" {
			return
		}
		p, err := loggerbin.Install(filepath.Join(e.stateDir, "bin"))
		if err != nil {
			e.log.Warn("the small log writer cannot be used: compod's own binary writes the service logs (more memory per service)", "err", err)
			p = e.selfBinary
		}
		e.logWriter = p
	})
	return e.logWriter
}
