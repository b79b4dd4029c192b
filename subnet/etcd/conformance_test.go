// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
	"github.com/weft-net/weft/subnet/subnettest"
)

func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	client := srv.Client(t)
	subnettest.RunRegistryConformance(t, func(t *testing.T) subnet.Registry {
		return etcd.New(client, testPrefix(t), nullLog())
	})
}

// testPrefix gives each test its own key space on a shared server.
func testPrefix(t *testing.T) string {
	return "/weft-test/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

func nullLog() logrus.FieldLogger {
	l, _ := test.NewNullLogger()
	return l
}
