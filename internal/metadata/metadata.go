package metadata

import (
	"strconv"
	"time"

	"github.com/imdsd/imdsd/internal/awsjson"
	"github.com/imdsd/imdsd/pkg/config"
)

// credentialPeriod is how often EC2 rotates role credentials; each set is
// valid for credentialLife, so Expiration is always hours ahead.
const (
	credentialPeriod = time.Hour
	credentialLife   = 6 * time.Hour
)

func metaData(c *config.Instance, launched time.Time) dir {
	m := dir{
		"ami-id":               c.AMIID,
		"ami-launch-index":     "0",
		"ami-manifest-path":    "(unknown)",
		"block-device-mapping": dir{"ami": "/dev/xvda", "root": "/dev/xvda"},
		"events": dir{
			"maintenance": dir{"history": "[]", "scheduled": "[]"},
		},
		"hibernation":         dir{"configured": "false"},
		"hostname":            c.Hostname,
		"instance-action":     "none",
		"instance-id":         c.InstanceID,
		"instance-life-cycle": "on-demand",
		"instance-type":       c.InstanceType,
		"local-hostname":      c.LocalHostname,
		"local-ipv4":          c.LocalIPv4,
		"mac":                 c.MAC,
		"network": dir{"interfaces": dir{"macs": dir{
			c.MAC: iface(c),
		}}},
		"placement": dir{
			"availability-zone":    c.AvailabilityZone,
			"availability-zone-id": c.AvailabilityZoneID,
			"region":               c.Region,
		},
		"profile":         "default-hvm",
		"reservation-id":  c.ReservationID,
		"security-groups": lines(c.SecurityGroups),
		"services": dir{
			"domain":    c.ServiceDomain(),
			"partition": c.Partition(),
		},
	}
	if c.PublicIPv4 != "" {
		m["public-ipv4"] = c.PublicIPv4
		m["public-hostname"] = c.PublicHostname
	}
	if keys := c.PublicKeys(); len(keys) > 0 {
		d := dir{}
		names := make([]string, len(keys))
		for i, k := range keys {
			n := strconv.Itoa(i)
			d[n] = dir{"openssh-key": k.Key + "\n"}
			names[i] = n + "=" + k.Name
		}
		m["public-keys"] = listed{dir: d, listing: lines(names)}
	}
	if len(c.Tags) > 0 {
		inst := dir{}
		for k, v := range c.Tags {
			inst[k] = v
		}
		m["tags"] = dir{"instance": inst}
	}
	if a := c.IAM; a != nil {
		m["iam"] = dir{
			"info": jsonObject(
				"Code", "Success",
				"LastUpdated", stamp(launched),
				"InstanceProfileArn", a.InstanceProfileArn,
				"InstanceProfileId", a.InstanceProfileID,
			),
			"security-credentials": dir{a.Role: func(now time.Time) []byte {
				return credentials(a, launched, now)
			}},
		}
	}
	return m
}

// credentials is the role's credential document at time now: issued at the
// start of the current rotation period, expiring hours later.
func credentials(a *config.IAM, launched, now time.Time) []byte {
	issued := now.UTC().Truncate(credentialPeriod)
	if issued.Before(launched) {
		issued = launched
	}
	return []byte(jsonObject(
		"Code", "Success",
		"LastUpdated", stamp(issued),
		"Type", "AWS-HMAC",
		"AccessKeyId", a.AccessKeyID,
		"SecretAccessKey", a.SecretAccessKey,
		"Token", a.Token,
		"Expiration", stamp(issued.Add(credentialLife)),
	))
}

// iface is network/interfaces/macs/<mac>/ for the instance's one interface.
func iface(c *config.Instance) dir {
	d := dir{
		"device-number":          "0",
		"interface-id":           c.InterfaceID,
		"local-hostname":         c.LocalHostname,
		"local-ipv4s":            c.LocalIPv4,
		"mac":                    c.MAC,
		"network-card":           "0",
		"owner-id":               c.AccountID,
		"security-group-ids":     lines(c.SecurityGroupIDs),
		"security-groups":        lines(c.SecurityGroups),
		"subnet-id":              c.SubnetID,
		"subnet-ipv4-cidr-block": c.SubnetIPv4CIDR,
		"vpc-id":                 c.VPCID,
		"vpc-ipv4-cidr-block":    c.VPCIPv4CIDR,
		"vpc-ipv4-cidr-blocks":   c.VPCIPv4CIDR,
	}
	if c.PublicIPv4 != "" {
		d["public-hostname"] = c.PublicHostname
		d["public-ipv4s"] = c.PublicIPv4
		d["ipv4-associations"] = dir{c.PublicIPv4: c.LocalIPv4}
	}
	return d
}

func dynamic(c *config.Instance, launched time.Time) dir {
	return dir{
		"fws": dir{"instance-monitoring": "disabled"},
		"instance-identity": dir{
			"document": IdentityDocument(c, launched),
		},
	}
}

// IdentityDocument is dynamic/instance-identity/document, in the field order
// and layout of the example in AWS's documentation
// (instance-identity-documents), with the values the meta-data tree serves.
func IdentityDocument(c *config.Instance, launched time.Time) string {
	return jsonObject(
		"devpayProductCodes", nil,
		"marketplaceProductCodes", nil,
		"availabilityZone", c.AvailabilityZone,
		"privateIp", c.LocalIPv4,
		"version", "2017-09-30",
		"instanceId", c.InstanceID,
		"billingProducts", nil,
		"instanceType", c.InstanceType,
		"accountId", c.AccountID,
		"imageId", c.AMIID,
		"pendingTime", stamp(launched),
		"architecture", c.Architecture,
		"kernelId", nil,
		"ramdiskId", nil,
		"region", c.Region,
	)
}

// jsonObject renders key/value pairs in AWS's layout (see awsjson).
func jsonObject(kv ...any) string { return awsjson.Object(kv...) }

// stamp formats t as EC2 does: RFC 3339 in UTC to the second.
func stamp(t time.Time) string { return awsjson.Stamp(t) }
