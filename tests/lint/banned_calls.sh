#!/usr/bin/env bash
# tests/lint/banned_calls.sh - no blocking or unsafe calls in event-loop code (STYLE.md s.9)
#
# Usage: banned_calls.sh [SRC_DIR]     (default: the repository containing this script)
# Scans common/ resolver/ publisher/ cli/ daemon/ (*.c, *.h) for calls to the banned functions
# below, ignoring comments and string literals, and prints file:line: name for each.
# A line may opt out with a comment naming the reason: /* banned-ok: startup only, ... */
# Exit: 0 clean, 1 at least one banned call.
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src"

banned='sprintf strcpy strcat strtok atoi gets sleep usleep system getaddrinfo gethostbyname
redisCommand curl_easy_perform ldns_resolver_query ldns_resolver_send'

files=$(find common resolver publisher tlsrpt cli daemon -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || { echo "banned_calls: no sources under $src"; exit 1; }

# shellcheck disable=SC2086
BANNED="$banned" perl -e '
	my @names = split /\s+/, $ENV{BANNED};
	my $re = join "|", map { quotemeta } @names;
	my $bad = 0;
	for my $file (@ARGV) {
		open my $fh, "<", $file or die "$file: $!\n";
		my $in_comment = 0;
		while (my $line = <$fh>) {
			my $ok = $line =~ /banned-ok:/;
			my $code = "";
			my $s = $line;
			# Drop comments and string/char literals, keeping the line structure.
			while (length $s) {
				if ($in_comment) {
					if ($s =~ s{^.*?\*/}{}s) { $in_comment = 0; } else { $s = ""; }
				} elsif ($s =~ s{^/\*}{}) {
					$in_comment = 1;
				} elsif ($s =~ s{^//.*}{}s) {
				} elsif ($s =~ s{^"(?:[^"\\]|\\.)*"}{}) {
					$code .= q{""};
				} elsif ($s =~ s{^\x27(?:[^\x27\\]|\\.)*\x27}{}) {
					$code .= "0";
				} else {
					$s =~ s{^(.)}{}s;
					$code .= $1;
				}
			}
			next if $ok;
			while ($code =~ /(?<![A-Za-z0-9_.>])($re)\s*\(/g) {
				print "$file:$.: $1() is banned in loop code (STYLE.md section 9)\n";
				$bad = 1;
			}
		}
		close $fh;
	}
	exit $bad;
' $files && { echo "banned_calls: clean ($(echo "$files" | wc -l) files)"; exit 0; }
echo "banned_calls: FAILED (see above; a justified exception carries /* banned-ok: why */)"
exit 1
