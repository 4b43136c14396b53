package privdrop

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	uid, gid, err := Lookup("root")
	if err != nil || uid != 0 || gid != 0 {
		t.Fatalf("Lookup(root) = %d, %d, %v", uid, gid, err)
	}
	if uid, _, err := Lookup("0"); err != nil || uid != 0 {
		t.Fatalf("Lookup(\"0\") = %d, %v; a numeric uid must work", uid, err)
	}
	if _, _, err := Lookup("no-such-user-imdsd"); err == nil || !strings.Contains(err.Error(), `user "no-such-user-imdsd"`) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestToRoot(t *testing.T) {
	if err := To(0, 0); err == nil {
		t.Fatal("To(0, 0) succeeded: dropping to root is no drop")
	}
}
