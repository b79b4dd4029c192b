// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package nstest

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestVethAndDo(t *testing.T) {
	a, b := New(t), New(t)
	Veth(t, a, "eth0", b, "eth0")
	a.MustRun(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "eth0")
	b.MustRun(t, "ip", "addr", "add", "198.18.0.2/24", "dev", "eth0")
	a.MustRun(t, "ip", "link", "set", "eth0", "up")
	b.MustRun(t, "ip", "link", "set", "eth0", "up")

	var names []string
	if err := a.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "lo,eth0" {
		t.Errorf("interfaces in %s: %v, want lo,eth0", a.Name, names)
	}
	// A UDP datagram crosses the veth, sockets opened inside the namespaces.
	var conn *net.UDPConn
	if err := b.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2), Port: 9999})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := a.Do(func() error {
		c, err := net.Dial("udp4", "198.18.0.2:9999")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	n, _, err := conn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
