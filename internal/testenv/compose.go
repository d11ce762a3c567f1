package testenv

import "fmt"

// SlowStartCompose is a pod whose launch takes a moment (about 1.5 s): app
// waits for db to be healthy, and db only becomes healthy after a second.
// Tests of what happens while a launch runs (locks, down during up, gc
// after a killed up) use it.
func SlowStartCompose() string {
	return fmt.Sprintf(`
services:
  db:
    image: %[1]s
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 100ms
      start_period: 10s
      start_interval: 100ms
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    depends_on:
      db:
        condition: service_healthy
`, BusyboxRef)
}
