// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/weft-net/weft/subnet/subnetenv"
)

// call is one plugin invocation: the parsed config, its log, and the
// attachment it is about (empty for STATUS and GC).
type call struct {
	conf  *NetConf
	log   *log.Logger
	att   attachment
	store stateStore
	close func()
}

// newCall parses stdin and opens the log. stdout carries the CNI result,
// so the log goes to stderr unless the config names a file.
func newCall(args *skel.CmdArgs, cmd string) (*call, error) {
	c, err := parseNetConf(args.StdinData)
	if err != nil {
		return nil, err
	}
	var w io.Writer = os.Stderr
	closeLog := func() {}
	var openErr error
	if c.LogFile != "" {
		f, err := os.OpenFile(c.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			w, closeLog = f, func() { f.Close() }
		} else {
			openErr = err
		}
	}
	prefix := fmt.Sprintf("weft %s %s: ", cmd, c.Name)
	if args.ContainerID != "" {
		prefix = fmt.Sprintf("weft %s %s %s/%s: ", cmd, c.Name, args.ContainerID, args.IfName)
	}
	lg := log.New(w, prefix, log.LstdFlags|log.Lmsgprefix)
	if openErr != nil {
		lg.Printf("open log file: %v (logging to stderr)", openErr)
	}
	return &call{
		conf:  c,
		log:   lg,
		att:   attachment{args.ContainerID, args.IfName},
		store: newStateStore(c.DataDir, c.Name),
		close: closeLog,
	}, nil
}

// readEnv reads subnet.env, turning failures into CNI errors an operator
// can act on. A missing file means weftd has not written it (yet): ADD
// may be retried later.
func (c *call) readEnv() (subnetenv.Env, error) {
	env, err := subnetenv.Read(c.conf.SubnetFile)
	if err == nil {
		return env, nil
	}
	var lineErr *subnetenv.LineError
	switch {
	case errors.Is(err, subnetenv.ErrNotExist):
		return env, types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("subnet file %s not found: is weftd running on this node?", c.conf.SubnetFile), "")
	case errors.As(err, &lineErr):
		return env, types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("%v: weftd (or flanneld) writes this file; is something else writing it?", err), "")
	default:
		return env, types.NewError(types.ErrIOFailure, err.Error(), "")
	}
}

// delegateError keeps the delegate's CNI error code and says which plugin
// and command failed.
func delegateError(typ, cmd string, err error) error {
	var te *types.Error
	if errors.As(err, &te) {
		return types.NewError(te.Code, fmt.Sprintf("delegate %s %s: %s", typ, cmd, te.Msg), te.Details)
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("delegate %s %s: %v", typ, cmd, err), "")
}

func ioError(err error) error {
	return types.NewError(types.ErrIOFailure, err.Error(), "")
}
