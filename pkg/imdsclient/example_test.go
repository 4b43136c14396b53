package imdsclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// fakeIMDS is a stand-in for EC2's service in the examples: one token, a
// tiny tree.
func fakeIMDS() *httptest.Server {
	tree := map[string]string{
		"/latest/":                                      "meta-data\n",
		"/latest/meta-data/":                            "instance-id\nplacement/\n",
		"/latest/meta-data/instance-id":                 "i-0123456789abcdef0",
		"/latest/meta-data/placement/":                  "availability-zone\nregion",
		"/latest/meta-data/placement/availability-zone": "us-east-1a",
		"/latest/meta-data/placement/region":            "us-east-1",
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
			fmt.Fprint(w, "AQAEAExampleTokenExampleTokenExampleToken==")
			return
		}
		v, ok := tree[r.URL.Path]
		if !ok || r.Header.Get("X-aws-ec2-metadata-token") == "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, v)
	}))
}

// A Client takes an IMDSv2 token and reads one value. On an instance,
// imdsclient.Options{} reads http://169.254.169.254.
func ExampleClient_Get() {
	ts := fakeIMDS()
	defer ts.Close()

	c, err := imdsclient.New(imdsclient.Options{Endpoint: ts.URL})
	if err != nil {
		log.Fatal(err)
	}
	id, err := c.Get(context.Background(), "meta-data/instance-id")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", id)
	// Output: i-0123456789abcdef0
}

// An answer other than 200 is a *StatusError; a 404 means the path does
// not exist.
func ExampleStatusError() {
	ts := fakeIMDS()
	defer ts.Close()

	c, err := imdsclient.New(imdsclient.Options{Endpoint: ts.URL})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Get(context.Background(), "meta-data/spot/instance-action")
	var se *imdsclient.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		fmt.Println("no spot interruption notice")
	}
	// Output: no spot interruption notice
}

// Walk visits a subtree as cloud-init crawls it: directories before their
// contents, in listing order.
func ExampleClient_Walk() {
	ts := fakeIMDS()
	defer ts.Close()

	c, err := imdsclient.New(imdsclient.Options{Endpoint: ts.URL})
	if err != nil {
		log.Fatal(err)
	}
	err = c.Walk(context.Background(), "meta-data/placement/", func(n imdsclient.Node, err error) error {
		if err != nil {
			return err
		}
		if !n.Dir {
			fmt.Printf("%s = %s\n", n.Path, n.Value)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// meta-data/placement/availability-zone = us-east-1a
	// meta-data/placement/region = us-east-1
}
