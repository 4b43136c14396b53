package server

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/neigh"
)

// BenchmarkGuestSelection is the handler answering a guest's leaf with a
// token, the guest chosen by its exact address, by its MAC address
// through the Server's own resolver (a neighbour cache, here always
// hit, its table injected) with local_ipv4 derived from the client, or
// by a network; 64 guests are configured.
func BenchmarkGuestSelection(b *testing.B) {
	const guests = 64
	table := make([]neigh.Entry, 0, guests)
	byAddr, byMAC := `{"rate_limit": {"requests_per_second": 0}, "instances": [`, `{"rate_limit": {"requests_per_second": 0}, "instances": [`
	byNet := `{"rate_limit": {"requests_per_second": 0}, "instances": [`
	for i := range guests {
		mac := net.HardwareAddr{0x58, 0x9c, 0xfc, 0x0a, 0x1b, byte(i)}
		addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})
		table = append(table, neigh.Entry{Addr: addr, MAC: mac, IfName: "br0", State: neigh.StateReachable})
		sep := ","
		if i == guests-1 {
			sep = "]}"
		}
		id := "i-0a1b2c3d4e5f600" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		byAddr += `{"match": ["` + addr.String() + `"], "instance_id": "` + id + `"}` + sep
		byMAC += `{"mac": "` + mac.String() + `", "instance_id": "` + id + `"}` + sep
		byNet += `{"match": ["10.1.` + strconv.Itoa(i) + `.0/24"], "instance_id": "` + id + `"}` + sep
	}
	cache := neighbours{neigh.New(neigh.Options{
		TTL:          time.Hour,
		ReadTable:    func() ([]neigh.Entry, error) { return table, nil },
		HostPrefixes: func() ([]netip.Prefix, error) { return nil, nil },
	})}
	for _, bc := range []struct{ name, cfg, client string }{
		{"address", byAddr, "10.0.0.50"},
		{"mac", byMAC, "10.0.0.50"},
		{"network", byNet, "10.1.63.5"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := New(parseConfig(b, bc.cfg), Options{MACResolver: cache})
			if err != nil {
				b.Fatal(err)
			}
			put := httptest.NewRequest("PUT", "/latest/api/token", nil)
			put.RemoteAddr = bc.client + ":40000"
			put.Header.Set(hdrTTL, "21600")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, put)
			if rec.Code != http.StatusOK {
				b.Fatalf("token: %d", rec.Code)
			}
			r := httptest.NewRequest("GET", "/latest/meta-data/local-ipv4", nil)
			r.RemoteAddr = put.RemoteAddr
			r.Header.Set(hdrToken, rec.Body.String())
			rec = httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET: %d %q", rec.Code, rec.Body)
			}
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				srv.ServeHTTP(w, r)
			}
		})
	}
}
