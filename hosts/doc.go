// Package hosts is dt's host inventory and host-pattern language.
//
// It owns: parsing the dtools host database (ParseInventory, with precise
// "file:line: message" errors) and the known_hosts fallback
// (ParseKnownHosts); name ranges (ExpandRange, and its inverse for display,
// Fold, which writes a host set as "h[001-020,022],db1"); the host-pattern
// grammar, parsed into a small AST (ParsePattern); selecting hosts with a
// pattern, in inventory order (Select); and editing the inventory safely
// (Doc keeps every line as written; UpdateFile locks, never writes a file
// that does not parse, and replaces the file whole). It does not resolve
// ssh_config, dial, print or exit, and it never touches the network: the
// instances of an ec2: term come from Env.EC2 (package ec2). Its only I/O
// is the files and standard input it is handed.
//
// # Inventory
//
// One host per line:
//
//	[user@]host[:port][|JUMP]  tag1 tag2 ...   # comment
//
// JUMP is "[user@]host[:port]" or a chain "j1,j2" that the client connects
// through in order, like ssh -J. IPv6 literals are bracketed, "[::1]" or
// "[::1]:2222"; an unbracketed name with two or more colons is accepted
// only as an IP address, without a port. Names and users use
// [A-Za-z0-9_.-], tags [A-Za-z0-9_.=-], and none starts with '-'. A host listed again merges
// its tags into the first entry; see ParseInventory for the exact rule.
//
// # Patterns
//
// A pattern selects hosts. The keys are all, ec2, exp, nil, not, out, sys
// and tag; each is written "KEY:VALUE".
//
//	web1,root@db2:2222   a bare word: explicit hosts, same as sys:
//	sys:H1,H2            explicit hosts, in the inventory or not; a host in
//	                     the inventory comes with its tags, user, port and
//	                     jumps (an explicit user or port here wins); others
//	                     come as just [user@]name[:port]. Ranges expand:
//	                     sys:web[01-12,20]
//	exp:REGEX            inventory hosts whose name matches the Go regexp
//	                     (unanchored)
//	tag:T1,T2,+T3,-T4    tag operations from left to right: the first term
//	                     selects hosts with T1, ",T" adds hosts with T
//	                     (or), ",+T" keeps only hosts with T (and), ",-T"
//	                     drops hosts with T (and not). A leading "-T" starts
//	                     from every host and drops T; a leading "+T" is T.
//	                     tag:web,+prod,-canary = (web and prod) minus canary
//	not:PATTERN          inventory hosts not matched by PATTERN
//	all:  nil:           every inventory host; no host
//	out:                 hosts read from standard input (see below); "out::"
//	                     and "all::", as dtools wrote them, are out: and all:
//	ec2:VALUE            running EC2 instances, through Env.EC2: VALUE is a
//	                     Name glob, tag=KEY=VALUE, sec=GROUP or any
//	                     DescribeInstances FILTER=VALUE; their AWS tags count
//	                     as tags for the terms chained after it
//
// Two operators combine terms:
//
//	P+KEY:...   union: hosts matched by either side
//	P:KEY:...   chain: the term after ':' is evaluated over the hosts
//	            selected so far, so it filters them:
//	            tag:linux:exp:^db = linux hosts whose name matches ^db
//
// Splitting is purely textual and happens before anything else: the
// pattern is cut into union terms at every '+' immediately followed by a
// key and ':' ("+sys:", "+tag:", "+exp:", "+not:", "+all:", "+nil:",
// "+out:"), then each union term into chain terms at every ':' immediately
// followed by a key and ':'. Everywhere else '+' and ':' are ordinary, so
// "exp:a+b" is one regexp, "tag:web,+prod" is an intersection and
// "sys:web1:22" is a host and port. This applies inside exp: values too: a
// regexp that must contain ":tag:" or "+tag:" (any key) can write the
// colon as [:] or \x3a. Union binds loosest; not: takes the rest of its
// chain as operand, so "not:tag:a:exp:b" is not(tag:a:exp:b), while
// "tag:a:not:exp:b" is the tag-a hosts whose name does not match b. For
// all:, nil: and out:, whose value may be empty, the key's own ':' may also
// start the chain: "all:tag:x" equals "all::tag:x". A bare word (no known
// key before its first ':') is a sys: host list. When a term does not
// parse and holds a word of letters followed by ':' that is not a key
// ("foo:bar", "tag:web+foo:bar"; words of hex letters only, like IPv6
// groups, do not count) the error is "unknown pattern key", listing the
// keys. Keys are case-sensitive; tag and host names are compared exactly.
//
// # out:
//
// out: reads standard input once per Select, however many out: terms the
// pattern has (use ReadsStdin to know whether it will). Blank lines and
// lines starting with '#' are ignored. A line whose third ':'-separated
// field is "dt" is a dt output line, "STATUS:ENCODING:dt:MODULE:HOST:MESSAGE",
// and is parsed by output.Parse, the parser of dt's own output: a line it
// rejects is an error at that line ("stdin:3: parse omni line ...").
// Any other line is a single host "[user@]host[:port]". Bare out: keeps
// every line's host; out:STATUS (out:fail, out:okay, out:skip: every
// status of output.Statuses) keeps only dt output lines of that status,
// and out:fail,skip those of either status, so plain names are kept only
// by bare out:. Hosts are
// deduplicated as they are read, first line first, and more than
// MaxRangeNames distinct hosts is an error, so a long input costs no
// more memory than its distinct hosts; hosts absent from the inventory
// are kept as with sys:.
//
// # Order
//
// Select returns each host once (by name): inventory hosts in inventory
// order, then hosts outside the inventory in the order the pattern first
// names them. Matching nothing is not an error.
package hosts
