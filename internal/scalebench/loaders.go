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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/netns"
)

// loader is one running `weft-demo watch-load` process.
type loader struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	ready answer
}

// answerBuf bounds one answer line: an events answer of 1,250 watchers ×
// 50 puts holds 62,500 timestamps, about 1.3 MB of JSON.
const answerBuf = 256 << 20

// startLoaders starts one load process per node namespace, the watchers
// split evenly, and waits until every watch of every process is open.
func startLoaders(ctx context.Context, c *cluster.Cluster, o Options, eps []string) ([]*loader, error) {
	ls := make([]*loader, len(c.Nodes))
	for i, n := range c.Nodes {
		w := o.Watchers / len(c.Nodes)
		if i < o.Watchers%len(c.Nodes) {
			w++
		}
		// Rotate the endpoints so that each process's clients start on a
		// different member and the members share the clients evenly.
		rot := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		l, err := startLoader(n, o.BinDir, c.Prefix()+"/subnets/", rot, w)
		if err != nil {
			stopLoaders(ls)
			return nil, err
		}
		ls[i] = l
	}
	g, _ := errgroup.WithContext(ctx)
	for _, l := range ls {
		g.Go(func() error {
			if err := l.read(&l.ready, "ready"); err != nil {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		stopLoaders(ls)
		return nil, err
	}
	return ls, nil
}

func startLoader(n *cluster.Node, binDir, prefix string, eps []string, watchers int) (*loader, error) {
	cmd := netns.Command(n.NS, filepath.Join(binDir, "weft-demo"), "watch-load",
		"--endpoints", strings.Join(eps, ","), "--prefix", prefix, "--watchers", strconv.Itoa(watchers))
	logf, err := os.Create(filepath.Join(n.Dir, "watch-load.log"))
	if err != nil {
		return nil, fmt.Errorf("load process on %s: %w", n.Name, err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("load process on %s: %w", n.Name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("load process on %s: %w", n.Name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load process on %s: %w", n.Name, err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 1<<20), answerBuf)
	return &loader{name: n.Name, cmd: cmd, stdin: stdin, out: sc}, nil
}

// read reads the next answer, which must be of type want.
func (l *loader) read(a *answer, want string) error {
	if !l.out.Scan() {
		err := l.out.Err()
		if err == nil {
			err = errors.New("exited")
		}
		return fmt.Errorf("load process on %s: %w (log: watch-load.log in its node dir)", l.name, err)
	}
	if err := json.Unmarshal(l.out.Bytes(), a); err != nil {
		return fmt.Errorf("load process on %s: answer: %w", l.name, err)
	}
	if a.Type != want {
		return fmt.Errorf("load process on %s: answered %q, want %q", l.name, a.Type, want)
	}
	return nil
}

// ask sends c to every process and collects their answers.
func ask(ls []*loader, c command) ([]answer, error) {
	line, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if _, err := l.stdin.Write(append(line, '\n')); err != nil {
			return nil, fmt.Errorf("load process on %s: %w", l.name, err)
		}
	}
	out := make([]answer, len(ls))
	var g errgroup.Group
	for i, l := range ls {
		g.Go(func() error { return l.read(&out[i], c.Cmd) })
	}
	return out, g.Wait()
}

// stopLoaders ends the processes: EOF first, then SIGKILL after a grace
// period (only these processes).
func stopLoaders(ls []*loader) {
	for _, l := range ls {
		if l != nil {
			_ = l.stdin.Close()
		}
	}
	for _, l := range ls {
		if l == nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = l.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = l.cmd.Process.Kill()
			<-done
		}
	}
}
