package neigh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"github.com/imdsd/imdsd/internal/neigh"
)

// A server looks up the MAC of each client; a client the table does not
// know is logged with the reason.
func Example() {
	cache := neigh.New(neigh.Options{
		TTL: 2 * time.Second,
		// Tests give their own table; a server leaves ReadTable nil.
		ReadTable: func() ([]neigh.Entry, error) {
			mac, _ := net.ParseMAC("58:9c:fc:00:00:05")
			return []neigh.Entry{{Addr: netip.MustParseAddr("10.0.0.5"), MAC: mac, IfName: "bridge0", State: neigh.StateReachable}}, nil
		},
		HostPrefixes: func() ([]netip.Prefix, error) {
			return []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, nil
		},
	})
	for _, client := range []string{"10.0.0.5", "10.232.0.13"} {
		e, err := cache.Lookup(context.Background(), netip.MustParseAddr(client))
		var nf *neigh.NotFoundError
		switch {
		case errors.As(err, &nf):
			fmt.Println("unknown client:", err)
		case err != nil:
			log.Print(err)
		default:
			fmt.Println(client, "is", e.MAC, "on", e.IfName)
		}
	}
	// Output:
	// 10.0.0.5 is 58:9c:fc:00:00:05 on bridge0
	// unknown client: no neighbour entry for 10.232.0.13: not on a directly attached network (routed?)
}
