// testapp is the program inside the compod.test/testapp image that compod's
// integration tests run. Every mode is chosen by a flag or by the matching
// TESTAPP_* environment variable (flags win): -listen :8080 is also
// TESTAPP_LISTEN=:8080. Modes combine; the program exits when a one-shot
// mode finishes and no server or timer keeps it alive.
//
//	-listen ADDR            HTTP server: / greeting (hostname, $TESTAPP_GREETING),
//	                        /healthz, /env, /whoami
//	-unhealthy-after D      /healthz answers 500 once D has passed
//	-unhealthy-file PATH    /healthz answers 500 while PATH exists
//	-exit-code N            exit code for -exit-after (default 0)
//	-exit-after D           exit with -exit-code after D
//	-alloc-mb N             allocate and touch N MiB (OOM tests), then keep it
//	-ignore-sigterm         ignore SIGTERM (default: exit 0 on SIGTERM)
//	-write-file PATH        write -write-content S into PATH at start
//	-print-lines N          print N numbered lines to stdout, -print-interval D apart
//	-stderr-lines N         the same on stderr
//	-get URL                fetch URL (retrying for up to 10s), print the body, exit 0/1
//
// Without -listen or -exit-after it exits 0 once its one-shot work is done.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("testapp", flag.ExitOnError)
	var (
		listen        = fs.String("listen", env("LISTEN", ""), "HTTP listen address, e.g. :8080")
		unhealthyAft  = fs.Duration("unhealthy-after", envDur("UNHEALTHY_AFTER"), "/healthz fails after this long")
		unhealthyFile = fs.String("unhealthy-file", env("UNHEALTHY_FILE", ""), "/healthz fails while this file exists")
		exitCode      = fs.Int("exit-code", envInt("EXIT_CODE"), "exit code used by -exit-after")
		exitAfter     = fs.Duration("exit-after", envDur("EXIT_AFTER"), "exit after this long")
		allocMB       = fs.Int("alloc-mb", envInt("ALLOC_MB"), "allocate and touch this many MiB")
		ignoreTerm    = fs.Bool("ignore-sigterm", env("IGNORE_SIGTERM", "") == "1" || env("IGNORE_SIGTERM", "") == "true", "ignore SIGTERM")
		writeFile     = fs.String("write-file", env("WRITE_FILE", ""), "file to write at start")
		writeContent  = fs.String("write-content", env("WRITE_CONTENT", ""), "content for -write-file")
		printLines    = fs.Int("print-lines", envInt("PRINT_LINES"), "numbered lines to print on stdout")
		stderrLines   = fs.Int("stderr-lines", envInt("STDERR_LINES"), "numbered lines to print on stderr")
		printInterval = fs.Duration("print-interval", envDur("PRINT_INTERVAL"), "pause between printed lines")
		get           = fs.String("get", env("GET", ""), "fetch this URL, print the body and exit")
	)
	fs.Parse(os.Args[1:])
	start := time.Now()

	// Signals: exit 0 on SIGTERM/SIGINT promptly, unless told to ignore SIGTERM.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM && *ignoreTerm {
				fmt.Println("testapp: ignoring SIGTERM")
				continue
			}
			fmt.Printf("testapp: %v, exiting\n", s)
			os.Exit(0)
		}
	}()

	if *writeFile != "" {
		if err := os.WriteFile(*writeFile, []byte(*writeContent), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testapp:", err)
			os.Exit(1)
		}
	}

	var hog [][]byte // kept reachable so the memory stays charged
	for i := 0; i < *allocMB; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1 // touch every page
		}
		hog = append(hog, b)
	}
	if *allocMB > 0 {
		fmt.Printf("testapp: allocated %d MiB\n", len(hog))
	}

	if *get != "" {
		os.Exit(fetch(*get))
	}

	var wg sync.WaitGroup
	printer := func(w io.Writer, stream string, n int) {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "%s line %d\n", stream, i)
			time.Sleep(*printInterval)
		}
	}
	if *printLines > 0 {
		wg.Add(1)
		go printer(os.Stdout, "stdout", *printLines)
	}
	if *stderrLines > 0 {
		wg.Add(1)
		go printer(os.Stderr, "stderr", *stderrLines)
	}

	if *exitAfter > 0 {
		time.AfterFunc(*exitAfter, func() { os.Exit(*exitCode) })
	}

	if *listen != "" {
		healthy := func() bool {
			if *unhealthyAft > 0 && time.Since(start) >= *unhealthyAft {
				return false
			}
			if *unhealthyFile != "" {
				if _, err := os.Stat(*unhealthyFile); err == nil {
					return false
				}
			}
			return true
		}
		go func() {
			err := http.ListenAndServe(*listen, handler(healthy))
			fmt.Fprintln(os.Stderr, "testapp:", err)
			os.Exit(1)
		}()
		fmt.Printf("testapp: listening on %s\n", *listen)
	}

	wg.Wait()
	if *listen != "" || *exitAfter > 0 || *allocMB > 0 || *ignoreTerm {
		select {} // keep serving / holding memory until a signal or -exit-after
	}
	os.Exit(*exitCode)
}

// handler serves /, /healthz, /env and /whoami.
func handler(healthy func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		fmt.Fprintf(w, "hello from testapp on %s: %s\n", host, os.Getenv("TESTAPP_GREETING"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !healthy() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		fmt.Fprintln(w, strings.Join(env, "\n"))
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		cwd, _ := os.Getwd()
		fmt.Fprintf(w, "%d:%d\n%s\n%s\n", os.Getuid(), os.Getgid(), cwd, strings.Join(os.Args, " "))
	})
	return mux
}

// fetch GETs url, retrying for up to 10s until it answers 2xx; it prints the
// body and returns the exit code.
func fetch(url string) int {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode/100 == 2 {
				os.Stdout.Write(body)
				return 0
			}
			err = fmt.Errorf("status %s, %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "testapp: get", url+":", err)
			return 1
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// env returns $TESTAPP_<name> or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv("TESTAPP_" + name); ok {
		return v
	}
	return def
}

func envInt(name string) int {
	var n int
	fmt.Sscan(env(name, "0"), &n)
	return n
}

func envDur(name string) time.Duration {
	d, _ := time.ParseDuration(env(name, "0s"))
	return d
}
