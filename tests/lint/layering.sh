#!/usr/bin/env bash
# tests/lint/layering.sh - the library layering of docs/architecture.md ("Layering"), by grep
#
# Usage: layering.sh [SRC_DIR]     (default: the repository containing this script)
#
# The build already refuses most violations (each library's include path reaches only the
# libraries it links, and <lib>/internal/ is a PRIVATE include directory); this check reads
# the #include "..." lines themselves, so a regression is caught even when someone adds an
# include path or a "../" by hand. Rules, for every *.c and *.h of common/ resolver/
# publisher/ acme/ tlsrpt/ cli/ daemon/ tests/ bench/:
#   - a header in <lib>/internal/ is included only from <lib>/ (no test, no other library);
#   - a library includes only the libraries below it:
#       common    -> common
#       resolver  -> common, resolver          (never publisher/)
#       publisher -> common, publisher         (never resolver/)
#       acme      -> common, acme              (the ACME client: neither half)
#       tlsrpt    -> common, tlsrpt
#       cli       -> common, resolver, publisher, tlsrpt, cli
#       daemon    -> all of them
#   - a *_int.h header lives in its library's internal/ directory;
#   - no two headers of the libraries share a file name (the include paths are flat, so the
#     compiler would take whichever directory comes first);
#   - a library's CMakeLists.txt links (mtasts_*) only the libraries it may include.
# A quoted include that is not a header of the libraries (cmocka.h, "../testutil.h") is
# not checked. Prints file:line: reason for each violation.
# Exit: 0 clean, 1 at least one violation.
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src"

files=$(find common resolver publisher acme tlsrpt cli daemon tests bench -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || { echo "layering: no sources under $src"; exit 1; }

# shellcheck disable=SC2086
perl -e '
	use strict;
	use warnings;
	use File::Basename qw(dirname basename);
	use File::Spec;

	my %may = (
		common    => [qw(common)],
		resolver  => [qw(common resolver)],
		publisher => [qw(common publisher)],
		acme      => [qw(common acme)],
		tlsrpt    => [qw(common tlsrpt)],
		cli       => [qw(common resolver publisher tlsrpt cli)],
		daemon    => [qw(common resolver publisher acme tlsrpt cli daemon)],
	);
	my $bad = 0;
	sub bad { print "$_[0]: $_[1]\n"; $bad = 1; }
	sub lib_of { my ($p) = @_; my ($top) = split m{/}, $p; return exists $may{$top} ? $top : undef; }
	sub allowed { my ($from, $to) = @_; return grep { $_ eq $to } @{$may{$from}}; }

	# The headers of the libraries, by file name.
	my (%by_name, %is_hdr);
	for my $lib (sort keys %may) {
		next unless -d $lib;
		open my $fh, "-|", "find", $lib, "-name", "*.h" or die "find: $!\n";
		while (my $h = <$fh>) {
			chomp $h;
			$is_hdr{$h} = 1;
			push @{$by_name{basename($h)}}, $h;
			bad($h, "an internal header (*_int.h) belongs in $lib/internal/")
				if $h =~ /_int\.h$/ && $h !~ m{^\Q$lib\E/internal/};
		}
		close $fh;
	}
	for my $n (sort keys %by_name) {
		my @p = sort @{$by_name{$n}};
		bad($p[0], "header name $n also used by " . join(", ", @p[1 .. $#p]) .
		    " (include paths are flat)") if @p > 1;
	}

	# "a/../b" -> "b", relative to the tree.
	sub norm {
		my @out;
		for my $c (split m{/}, $_[0]) {
			next if $c eq "" || $c eq ".";
			if ($c eq "..") { return undef unless @out; pop @out; } else { push @out, $c; }
		}
		return join "/", @out;
	}
	# The library header an include names: relative to the including file first (what the
	# compiler does for quoted includes), then through the flat include paths.
	sub resolve {
		my ($file, $inc) = @_;
		my $rel = norm(dirname($file) . "/" . $inc);
		return $rel if defined $rel && $is_hdr{$rel};
		return undef if defined $rel && -e $rel;   # a test helper next to the file
		for my $h (@{$by_name{basename($inc)} || []}) {
			return $h if $h eq $inc || substr($h, -length($inc) - 1) eq "/$inc";
		}
		return undef;
	}

	for my $file (@ARGV) {
		my $from = lib_of($file);
		open my $fh, "<", $file or die "$file: $!\n";
		while (my $line = <$fh>) {
			next unless $line =~ /^\s*#\s*include\s*"([^"]+)"/;
			my $inc = $1;
			my $h = resolve($file, $inc) or next;
			my $to = lib_of($h);
			if ($h =~ m{^\Q$to\E/internal/} && (!defined $from || $from ne $to)) {
				bad("$file:$.", "includes $h, internal to $to/ (use its public headers)");
			} elsif (defined $from && !allowed($from, $to)) {
				bad("$file:$.", "$from/ includes $h: $from/ may include only " .
				    join(", ", map { "$_/" } @{$may{$from}}));
			}
		}
		close $fh;
	}

	# Link dependencies: what a library links is what its include path reaches.
	for my $lib (sort keys %may) {
		my $cm = "$lib/CMakeLists.txt";
		next unless -f $cm;
		open my $fh, "<", $cm or die "$cm: $!\n";
		my $text = do { local $/; <$fh> };
		close $fh;
		$text =~ s/#[^\n]*//g;
		while ($text =~ /target_link_libraries\s*\(([^)]*)\)/g) {
			my $args = $1;
			my $line = 1 + (substr($text, 0, $-[0]) =~ tr/\n//);
			for my $dep ($args =~ /\bmtasts_(\w+)/g) {
				next if !exists $may{$dep} || allowed($lib, $dep);
				bad("$cm:$line", "$lib/ links mtasts_$dep: $lib/ may depend only on " .
				    join(", ", map { "$_/" } @{$may{$lib}}));
			}
		}
	}
	exit $bad;
' $files && { echo "layering: clean ($(echo "$files" | wc -l) files)"; exit 0; }
echo "layering: FAILED (see above; docs/architecture.md, Layering, says what may include what)"
exit 1
