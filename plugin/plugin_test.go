package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/compod/compod/translate"
)

type labeler struct{ name, key string }

func (l labeler) Name() string { return l.name }
func (l labeler) PreLaunch(_ context.Context, p *translate.PodPlan) error {
	if l.key == "" {
		return errors.New("no key")
	}
	for i := range p.Services {
		if p.Services[i].Labels == nil {
			p.Services[i].Labels = map[string]string{}
		}
		p.Services[i].Labels[l.key] = l.name
	}
	return nil
}

func TestResolveAndRunInOrder(t *testing.T) {
	Register(labeler{"first", "by"})
	Register(labeler{"second", "by"})
	Register(labeler{"broken", ""})
	plan := &translate.PodPlan{Services: []translate.ServiceSpec{{Name: "web"}}}
	ps, err := Resolve([]string{"first", " second "})
	if err != nil {
		t.Fatal(err)
	}
	if err := PreLaunch(context.Background(), ps, plan); err != nil {
		t.Fatal(err)
	}
	if got := plan.Services[0].Labels["by"]; got != "second" {
		t.Errorf("label by=%q: the later plugin must run last", got)
	}
	ps, _ = Resolve([]string{"broken"})
	if err := PreLaunch(context.Background(), ps, plan); err == nil || !strings.Contains(err.Error(), `plugin "broken"`) {
		t.Errorf("error %v does not name the plugin", err)
	}
	for _, order := range [][]string{{"nope"}, {"first", "first"}} {
		if _, err := Resolve(order); err == nil {
			t.Errorf("order %v accepted", order)
		}
	}
	if _, err := Resolve([]string{"nope"}); !strings.Contains(err.Error(), "known: broken, first, second") {
		t.Errorf("error %v does not list the known plugins", err)
	}
}
