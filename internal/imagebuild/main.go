// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command imagebuild is `make image`: it cross-builds weftd, weft, weftctl
// and the reference CNI plugins for every platform and packs them, with
// go-containerregistry and no Docker daemon, into one multi-platform OCI
// image written as an OCI layout tarball (what `ctr images import` and
// `skopeo copy oci-archive:` read). The image has an empty base, one layer
// per platform, owners 0:0 and every timestamp set to SOURCE_DATE_EPOCH, so
// the same commit built twice gives the same digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	o := Options{}
	var platforms, epoch string
	flag.StringVar(&o.Repo, "repo", "ghcr.io/weft-net/weft", "image repository (the reference is repo:tag)")
	flag.StringVar(&o.Tag, "tag", "", "image tag; characters a tag cannot hold become '-' (required; the Makefile passes VERSION)")
	flag.StringVar(&o.LDFlags, "ldflags", "", "-ldflags for weftd, weft and weftctl (the Makefile's LDFLAGS)")
	flag.StringVar(&o.Tags, "tags", "", "build tags for weftd, weft and weftctl (the Makefile's GOTAGS)")
	flag.StringVar(&o.Out, "out", "bin/weft-image.tar", "OCI layout tarball to write")
	flag.StringVar(&o.WorkDir, "work", "bin/image", "where the per-platform root file systems are staged")
	flag.StringVar(&o.Go, "go", "go", "the go command")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	flag.StringVar(&epoch, "epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time for every timestamp (default $SOURCE_DATE_EPOCH; the Makefile passes the commit time)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || secs < 0 {
		fail(fmt.Errorf("-epoch %q: want a Unix time in seconds (SOURCE_DATE_EPOCH)", epoch))
	}
	o.Epoch = time.Unix(secs, 0).UTC()
	for p := range strings.SplitSeq(platforms, ",") {
		pl, err := parsePlatform(p)
		if err != nil {
			fail(err)
		}
		o.Platforms = append(o.Platforms, pl)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Build(ctx, o)
	if err != nil {
		fail(err)
	}
	fmt.Printf("image %s\n", res.Ref)
	for _, m := range res.Manifests {
		fmt.Printf("  %-12s %s\n", m.Platform, m.Digest)
	}
	fmt.Printf("wrote %s (%d bytes)\n", o.Out, res.Size)
	fmt.Printf("digest %s\n", res.Digest)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "imagebuild:", err)
	os.Exit(1)
}
