// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package scalebench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// LoadConfig shapes one load process (`weft-demo watch-load`): Watchers
// etcd clients, each its own TCP connection to one endpoint (client i uses
// Endpoints[i mod len]), as that many weftd nodes would hold, each with one
// watch on Prefix.
type LoadConfig struct {
	Endpoints []string
	Prefix    string // the watched prefix, e.g. /coreos.com/network/subnets/
	Watchers  int
}

// The load process speaks JSON lines: commands on stdin, one answer line
// per command on stdout, after a first {"type":"ready"} line once every
// watch is established. EOF on stdin ends it.

// command is one line the orchestrator sends.
type command struct {
	Cmd string `json:"cmd"` // "events", "list", "keepalive"
	// list: the prefix to range over, read mode, start time.
	Prefix       string `json:"prefix,omitempty"`
	Serializable bool   `json:"serializable,omitempty"`
	At           int64  `json:"at,omitempty"`      // unix ns; every process starts then
	Clients      int    `json:"clients,omitempty"` // list with the first this many clients (0: all)
	// keepalive: every client grants an etcd lease of TTL seconds before
	// At, then renews it once per Interval (phases spread evenly) with
	// KeepAliveOnce, as weftd does, until At+Duration.
	TTL      int64         `json:"ttl,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
}

// answer is one line the load process sends.
type answer struct {
	Type string `json:"type"` // "ready", "events", "list", "keepalive"
	// ready: how long opening every client and watch took.
	SetupNS int64 `json:"setup_ns,omitempty"`
	// events: revision → receive time (unix ns) of each watcher that got
	// it, and the events each watcher saw in all.
	Recv      map[int64][]int64 `json:"recv,omitempty"`
	PerWatch  []int             `json:"per_watcher,omitempty"`
	WatchErrs int               `json:"watch_errors,omitempty"`
	// list: each client's keys returned and time from At to its answer.
	Keys    []int   `json:"keys,omitempty"`
	TookNS  []int64 `json:"took_ns,omitempty"`
	Errors  int     `json:"errors,omitempty"`
	FirstEr string  `json:"first_error,omitempty"`
	// keepalive: renewals done.
	Renewals int `json:"renewals,omitempty"`
}

// loadClient is one simulated node.
type loadClient struct {
	cl *clientv3.Client
	mu sync.Mutex
	ev []event // what its watch delivered
}

type event struct{ rev, at int64 }

// RunLoad is the body of `weft-demo watch-load`: it opens the clients and
// watches, then answers commands from in until EOF or ctx ends.
func RunLoad(ctx context.Context, cfg LoadConfig, in io.Reader, out io.Writer) error {
	if len(cfg.Endpoints) == 0 || cfg.Watchers <= 0 || cfg.Prefix == "" {
		return errors.New("watch-load: endpoints, watchers and prefix are required")
	}
	start := time.Now()
	clients := make([]*loadClient, cfg.Watchers)
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.cl.Close()
			}
		}
	}()
	var watchErrs sync.Map
	// The watches live on ctx: an errgroup's context ends with Wait.
	var g errgroup.Group
	g.SetLimit(64) // connect in parallel, not in one burst of thousands
	for i := range clients {
		g.Go(func() error {
			c, err := openClient(ctx, cfg.Endpoints[i%len(cfg.Endpoints)], cfg.Prefix, &watchErrs)
			clients[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	if err := enc.Encode(answer{Type: "ready", SetupNS: int64(time.Since(start))}); err != nil {
		return fmt.Errorf("watch-load: %w", err)
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var c command
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return fmt.Errorf("watch-load: command %q: %w", sc.Text(), err)
		}
		var a answer
		switch c.Cmd {
		case "events":
			a = eventsAnswer(clients, &watchErrs)
		case "list":
			a = listAll(ctx, clients, c)
		case "keepalive":
			a = keepAliveAll(ctx, clients, c)
		default:
			return fmt.Errorf("watch-load: unknown command %q", c.Cmd)
		}
		if err := enc.Encode(a); err != nil {
			return fmt.Errorf("watch-load: %w", err)
		}
	}
	return sc.Err()
}

// openClient connects one client and waits until its watch is created, so
// that the first measured put reaches every watcher.
func openClient(ctx context.Context, ep, prefix string, watchErrs *sync.Map) (*loadClient, error) {
	cl, err := clientv3.New(clientv3.Config{
		Endpoints: []string{ep}, DialTimeout: 30 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", ep, err)
	}
	c := &loadClient{cl: cl}
	ch := cl.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	select {
	case r, ok := <-ch:
		if err := r.Err(); err != nil {
			_ = cl.Close()
			return nil, fmt.Errorf("watch %s on %s: %w", prefix, ep, err)
		}
		if !ok || !r.Created {
			_ = cl.Close()
			return nil, fmt.Errorf("watch %s on %s: closed before it was created", prefix, ep)
		}
	case <-time.After(60 * time.Second):
		_ = cl.Close()
		return nil, fmt.Errorf("watch %s on %s: not created within 60s", prefix, ep)
	}
	go func() {
		for r := range ch {
			now := time.Now().UnixNano()
			if err := r.Err(); err != nil {
				watchErrs.Store(c, err.Error())
				continue
			}
			c.mu.Lock()
			for _, e := range r.Events {
				c.ev = append(c.ev, event{rev: e.Kv.ModRevision, at: now})
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// eventsAnswer hands over (and forgets) what the watches received so far.
func eventsAnswer(clients []*loadClient, watchErrs *sync.Map) answer {
	a := answer{Type: "events", Recv: map[int64][]int64{}, PerWatch: make([]int, len(clients))}
	for i, c := range clients {
		c.mu.Lock()
		evs := c.ev
		c.ev = nil
		c.mu.Unlock()
		a.PerWatch[i] = len(evs)
		for _, e := range evs {
			a.Recv[e.rev] = append(a.Recv[e.rev], e.at)
		}
	}
	watchErrs.Range(func(k, _ any) bool { a.WatchErrs++; watchErrs.Delete(k); return true })
	return a
}

// listAll has every client range over c.Prefix at c.At, as a fleet whose
// daemons all start at once.
func listAll(ctx context.Context, clients []*loadClient, c command) answer {
	if c.Clients > 0 && c.Clients < len(clients) {
		clients = clients[:c.Clients]
	}
	a := answer{Type: "list", Keys: make([]int, len(clients)), TookNS: make([]int64, len(clients))}
	at := time.Unix(0, c.At)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if c.Serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	time.Sleep(time.Until(at))
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			r, err := cl.cl.Get(rctx, c.Prefix, opts...)
			a.TookNS[i] = int64(time.Since(at))
			if err != nil {
				mu.Lock()
				a.Errors++
				if a.FirstEr == "" {
					a.FirstEr = err.Error()
				}
				mu.Unlock()
				return
			}
			a.Keys[i] = len(r.Kvs)
		}()
	}
	wg.Wait()
	return a
}

// keepAliveAll grants one etcd lease per client, then renews each once per
// c.Interval from c.At until c.At+c.Duration, the clients' phases spread
// evenly over the interval as a fleet's are.
func keepAliveAll(ctx context.Context, clients []*loadClient, c command) answer {
	a := answer{Type: "keepalive"}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		a.Errors++
		if a.FirstEr == "" {
			a.FirstEr = err.Error()
		}
		mu.Unlock()
	}
	at, end := time.Unix(0, c.At), time.Unix(0, c.At).Add(c.Duration)
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := cl.cl.Grant(ctx, c.TTL)
			if err != nil {
				fail(fmt.Errorf("grant: %w", err))
				return
			}
			defer func() { _, _ = cl.cl.Revoke(context.WithoutCancel(ctx), g.ID) }()
			n := 0
			for next := at.Add(c.Interval * time.Duration(i) / time.Duration(len(clients))); next.Before(end); next = next.Add(c.Interval) {
				time.Sleep(time.Until(next))
				if _, err := cl.cl.KeepAliveOnce(ctx, g.ID); err != nil {
					fail(fmt.Errorf("keepalive: %w", err))
					continue
				}
				n++
			}
			mu.Lock()
			a.Renewals += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return a
}

// ParseEndpoints splits a comma list of client URLs.
func ParseEndpoints(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
