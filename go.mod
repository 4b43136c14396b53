module github.com/imdsd/imdsd

go 1.26.0

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/credentials v1.21.0
	github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.20.9
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/hashicorp/go-syslog v1.0.1
	github.com/sevlyar/go-daemon v0.1.6
	golang.org/x/sys v0.50.0
)

require (
	github.com/aws/smithy-go v1.28.9 // indirect
	github.com/kardianos/osext v0.0.0-20190222173326-2bc1f35cddc0 // indirect
)
