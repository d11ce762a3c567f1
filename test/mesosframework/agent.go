package mesosframework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ExecutorContainer is what the agent says about an executor's container.
type ExecutorContainer struct {
	ContainerID string
	// PID is the executor's pid on the host (0 when the agent did not say).
	PID int
}

// containersEntry is one element of the agent's /containers endpoint.
type containersEntry struct {
	ContainerID string `json:"container_id"`
	ExecutorID  string `json:"executor_id"`
	FrameworkID string `json:"framework_id"`
	Status      struct {
		ExecutorPID int `json:"executor_pid"`
	} `json:"status"`
}

// agentState is the part of the agent's /state endpoint used here.
type agentState struct {
	Frameworks []struct {
		ID        string `json:"id"`
		Executors []struct {
			ID        string `json:"id"`
			Container string `json:"container"`
		} `json:"executors"`
	} `json:"frameworks"`
}

// FindExecutor asks the agent (host:port) for the container (and pid) of
// the framework's executor: /containers first, then /state (which has no
// pid).
func FindExecutor(ctx context.Context, agent, frameworkID, executorID string) (ExecutorContainer, error) {
	var list []containersEntry
	if err := getJSON(ctx, "http://"+agent+"/containers", &list); err != nil {
		return ExecutorContainer{}, err
	}
	for _, c := range list {
		if c.ExecutorID == executorID && (c.FrameworkID == "" || c.FrameworkID == frameworkID) {
			return ExecutorContainer{ContainerID: c.ContainerID, PID: c.Status.ExecutorPID}, nil
		}
	}
	var st agentState
	if err := getJSON(ctx, "http://"+agent+"/state", &st); err != nil {
		return ExecutorContainer{}, err
	}
	for _, fw := range st.Frameworks {
		if fw.ID != frameworkID {
			continue
		}
		for _, x := range fw.Executors {
			if x.ID == executorID && x.Container != "" {
				return ExecutorContainer{ContainerID: x.Container}, nil
			}
		}
	}
	return ExecutorContainer{}, fmt.Errorf("agent %s knows no container for executor %s of framework %s", agent, executorID, frameworkID)
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
