package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// The instance profile served to the SDK.
const (
	sdkRole      = "web"
	sdkAccessKey = "ASIAIOSFODNN7EXAMPLE"
	sdkSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	sdkToken     = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"
	sdkUserData  = "#!/bin/sh\necho hello from imdsd\n"
	sdkRegion    = "us-east-2"
	sdkZone      = "us-east-2b"
	sdkAccount   = "210987654321"
	sdkInstance  = "i-0123456789abcdef0"
)

func sdkConfig(t *testing.T, changes map[string]any) string {
	t.Helper()
	base := map[string]any{
		"instance_id":       sdkInstance,
		"account_id":        sdkAccount,
		"region":            sdkRegion,
		"availability_zone": sdkZone,
		"user_data":         sdkUserData,
		"iam": map[string]string{
			"role":              sdkRole,
			"access_key_id":     sdkAccessKey,
			"secret_access_key": sdkSecret,
			"token":             sdkToken,
		},
	}
	for k, v := range changes {
		base[k] = v
	}
	return writeConfig(t, seedWith(t, base))
}

// sdkClient is aws-sdk-go-v2's IMDS client pointed at d.
func sdkClient(d *daemonProc, fallback aws.Ternary) *imds.Client {
	return imds.New(imds.Options{
		Endpoint:          d.url,
		EnableFallback:    fallback,
		ClientEnableState: imds.ClientEnabled, // whatever AWS_EC2_METADATA_DISABLED says
	})
}

func readAll(t *testing.T, what string, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: reading the content: %v", what, err)
	}
	return string(b)
}

// TestAWSSDK uses aws-sdk-go-v2 as a real IMDSv2-only client (no v1
// fallback) for every operation it has.
func TestAWSSDK(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "--config", sdkConfig(t, nil))
	client := sdkClient(d, aws.FalseTernary)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("GetMetadata", func(t *testing.T) {
		for path, want := range map[string]string{
			"instance-id":                  sdkInstance,
			"placement/availability-zone/": sdkZone, // botocore's and the SDK's spelling, slash kept
			"iam/security-credentials/":    sdkRole,
		} {
			out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
			if err != nil {
				t.Errorf("GetMetadata(%q): %v", path, err)
				continue
			}
			if got := readAll(t, path, out.Content); got != want {
				t.Errorf("GetMetadata(%q) = %q, want %q", path, got, want)
			}
		}
	})
	t.Run("GetRegion", func(t *testing.T) {
		out, err := client.GetRegion(ctx, &imds.GetRegionInput{})
		if err != nil {
			t.Fatalf("GetRegion: %v", err)
		}
		if out.Region != sdkRegion {
			t.Errorf("GetRegion = %q, want %q", out.Region, sdkRegion)
		}
	})
	t.Run("GetInstanceIdentityDocument", func(t *testing.T) {
		out, err := client.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
		if err != nil {
			t.Fatalf("GetInstanceIdentityDocument: %v", err)
		}
		doc := out.InstanceIdentityDocument
		for _, f := range []struct{ name, got, want string }{
			{"InstanceID", doc.InstanceID, sdkInstance},
			{"Region", doc.Region, sdkRegion},
			{"AvailabilityZone", doc.AvailabilityZone, sdkZone},
			{"AccountID", doc.AccountID, sdkAccount},
			{"PrivateIP", doc.PrivateIP, "10.0.0.10"},
			{"Architecture", doc.Architecture, "x86_64"},
		} {
			if f.got != f.want {
				t.Errorf("document %s = %q, want %q", f.name, f.got, f.want)
			}
		}
		if doc.PendingTime.IsZero() {
			t.Errorf("document PendingTime is zero")
		}
	})
	t.Run("GetUserData", func(t *testing.T) {
		out, err := client.GetUserData(ctx, &imds.GetUserDataInput{})
		if err != nil {
			t.Fatalf("GetUserData: %v", err)
		}
		if got := readAll(t, "user-data", out.Content); got != sdkUserData {
			t.Errorf("GetUserData = %q, want %q", got, sdkUserData)
		}
	})
	t.Run("GetIAMInfo", func(t *testing.T) {
		out, err := client.GetIAMInfo(ctx, &imds.GetIAMInfoInput{})
		if err != nil {
			t.Fatalf("GetIAMInfo: %v", err)
		}
		info := out.IAMInfo
		if want := "arn:aws:iam::" + sdkAccount + ":instance-profile/" + sdkRole; info.InstanceProfileArn != want {
			t.Errorf("InstanceProfileArn = %q, want %q", info.InstanceProfileArn, want)
		}
		if info.Code != "Success" || info.InstanceProfileID == "" || info.LastUpdated.IsZero() {
			t.Errorf("IAMInfo = %+v, want Code Success, an InstanceProfileID and LastUpdated", info)
		}
	})
	t.Run("ec2rolecreds", func(t *testing.T) {
		creds, err := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client }).Retrieve(ctx)
		if err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
		if creds.AccessKeyID != sdkAccessKey || creds.SecretAccessKey != sdkSecret || creds.SessionToken != sdkToken {
			t.Errorf("credentials = %q / %q / %q, want %q / %q / %q",
				creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, sdkAccessKey, sdkSecret, sdkToken)
		}
		if !creds.CanExpire || !creds.Expires.After(time.Now()) {
			t.Errorf("credentials expire at %v (CanExpire %v), want a time in the future", creds.Expires, creds.CanExpire)
		}
	})
}

// TestAWSSDKTokenFallback: when PUT /latest/api/token answers 404, the SDK
// falls back to IMDSv1 if allowed (and the instance allows it), and fails
// otherwise.
func TestAWSSDKTokenFallback(t *testing.T) {
	t.Parallel()
	force404 := map[string]int{"api/token": 404}
	tests := []struct {
		name     string
		tokens   string
		fallback aws.Ternary
		wantErr  bool
	}{
		{"optional, fallback enabled", "optional", aws.TrueTernary, false},
		{"required, fallback disabled", "required", aws.FalseTernary, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := startDaemon(t, "--config", sdkConfig(t, map[string]any{
				"http_tokens":  tt.tokens,
				"force_status": force404,
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := sdkClient(d, tt.fallback).GetMetadata(ctx, &imds.GetMetadataInput{Path: "instance-id"})
			switch {
			case tt.wantErr && err == nil:
				t.Errorf("GetMetadata(instance-id) = %q, want an error (no token and no fallback)", readAll(t, "instance-id", out.Content))
			case !tt.wantErr && err != nil:
				t.Errorf("GetMetadata(instance-id): %v, want %q through the IMDSv1 fallback", err, sdkInstance)
			case !tt.wantErr:
				if got := readAll(t, "instance-id", out.Content); got != sdkInstance {
					t.Errorf("GetMetadata(instance-id) = %q, want %q", got, sdkInstance)
				}
			default:
				t.Logf("error as expected: %v", err)
			}
		})
	}
}

// TestAWSSDKLifecycle reads every moving path with aws-sdk-go-v2's
// GetMetadata from a spot instance whose notices come a second after its
// first request: 404s (errors) before, then the bodies, the same on every
// poll.
func TestAWSSDKLifecycle(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "--config", sdkConfig(t, map[string]any{
		"market":                   "spot",
		"spot_interruption":        map[string]any{"action": "stop", "after": "1s"},
		"rebalance_recommendation": map[string]any{"after": "1s"},
		"scheduled_events": []any{
			map[string]any{"code": "system-reboot", "not_before": "2026-12-08T09:00:43Z", "not_after": "2026-12-08T09:17:23Z"},
			map[string]any{"code": "instance-stop", "not_before": "2026-12-09T09:00:00Z", "state": "canceled"},
		},
		"autoscaling_lifecycle": []any{map[string]any{"state": "Terminated", "after": "1s"}},
	}))
	client := sdkClient(d, aws.FalseTernary)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	get := func(path string) (string, error) {
		out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
		if err != nil {
			return "", err
		}
		return readAll(t, path, out.Content), nil
	}
	for _, p := range []string{"spot/instance-action", "events/recommendations/rebalance", "autoscaling/target-lifecycle-state"} {
		if body, err := get(p); err == nil {
			t.Errorf("%s before the notice: %q, want an error (404)", p, body)
		}
	}
	var action string
	for deadline := time.Now().Add(10 * time.Second); action == "" && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		action, _ = get("spot/instance-action")
	}
	m := regexp.MustCompile(`^\{"action":"stop","time":"([0-9T:-]+Z)"\}$`).FindStringSubmatch(action)
	if m == nil {
		t.Fatalf("spot/instance-action = %q, want a stop notice", action)
	}
	at, _ := time.Parse(time.RFC3339, m[1])
	notice := at.Add(-2 * time.Minute).Format(time.RFC3339)
	want := map[string]string{
		"instance-life-cycle":                "spot",
		"spot/instance-action":               action,
		"events/recommendations/rebalance":   `{"noticeTime":"` + notice + `"}`,
		"autoscaling/target-lifecycle-state": "Terminated",
		"events/maintenance/scheduled": "[ {\n  \"NotBefore\" : \"8 Dec 2026 09:00:43 GMT\",\n  \"Code\" : \"system-reboot\",\n" +
			"  \"Description\" : \"scheduled reboot\",\n  \"EventId\" : \"instance-event-\"", // checked as a prefix
		"events/maintenance/history": "[ {\n  \"NotBefore\" : \"9 Dec 2026 09:00:00 GMT\",\n  \"Code\" : \"instance-stop\",\n" +
			"  \"Description\" : \"[Canceled] The instance is running on degraded hardware\",\n",
	}
	for round := 0; round < 3; round++ {
		for p, w := range want {
			body, err := get(p)
			if err != nil {
				t.Fatalf("round %d: GetMetadata %s: %v", round, p, err)
			}
			if strings.HasPrefix(p, "events/maintenance/") {
				if !strings.HasPrefix(body, strings.TrimSuffix(w, `"`)) {
					t.Errorf("%s = %q, want it to start %q", p, body, w)
				}
				continue
			}
			if body != w {
				t.Errorf("round %d: %s = %q, want %q", round, p, body, w)
			}
		}
		if l, err := get(""); err != nil || !strings.Contains(l, "\nspot/") || !strings.Contains(l, "autoscaling/\n") {
			t.Errorf("meta-data/ = %q, %v; want spot/ and autoscaling/ listed", l, err)
		}
		if _, err := get("spot/termination-time"); err == nil {
			t.Error("spot/termination-time answers for a stop notice; EC2 serves it for terminate only")
		}
	}
}
