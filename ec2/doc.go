// Package ec2 lists running Amazon EC2 instances as dt hosts, for the
// ec2: pattern (see hosts.EC2): one DescribeInstances call per pattern
// term, with the term's filter and instance-state-name=running, every
// page of it, through the AWS SDK for Go v2 with its standard credential
// chain (environment, shared config and credentials files, SSO, web
// identity, container and instance roles) and region (AWS_REGION, the
// profile's region). AWS_ENDPOINT_URL_EC2 (or AWS_ENDPOINT_URL) points it
// at another endpoint, as the SDK allows.
//
// It owns turning instances into hosts: the name dt connects to (public
// DNS name, else public IP; or the private IP with Options.Private) and
// the tags (each AWS tag KEY=VALUE gives the dt tags "KEY=VALUE" and
// "VALUE"). It does not select, dial or print.
package ec2
