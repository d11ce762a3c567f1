// Package bench holds `make bench`'s floor benchmark (bench_test.go): pod
// start and stop times against bare containerd containers measured in the
// same run, the executor's latencies through the Mesos agent emulator and
// compod's own memory per pod. See docs/performance.md.
package bench
