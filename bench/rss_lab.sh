#!/bin/bash
# bench/rss_lab.sh - the idle daemon's lab shared by bench/rss_idle.sh and bench/rss_cache.sh
# (sourced, never run).
#
# rss_lab_setup DIR [PUBLISHER_SETTINGS]: picks three free loopback ports (SM, PUB, ADM, set
# for the caller), makes a self-signed ECDSA certificate for mta-sts.rss.test in DIR
# (k.pem, c.pem) and writes DIR/m.conf: the resolver on 127.0.0.1:$SM, the admin endpoint
# on 127.0.0.1:$ADM, the publisher on 127.0.0.1:$PUB serving rss.test (no port 80),
# PUBLISHER_SETTINGS added to its group, the state directory DIR/state. No DNS or network
# use beyond loopback. Needs certtool and python3.

rss_lab_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

rss_lab_setup() {
	local dir=$1 extra=${2:-}
	SM=$(rss_lab_port) PUB=$(rss_lab_port) ADM=$(rss_lab_port)
	certtool --generate-privkey --key-type=ecdsa --outfile "$dir/k.pem" 2>/dev/null
	printf 'cn = "mta-sts.rss.test"\ndns_name = "mta-sts.rss.test"\ntls_www_server\nsigning_key\nexpiration_days = 30\n' >"$dir/t.tmpl"
	certtool --generate-self-signed --load-privkey "$dir/k.pem" --template "$dir/t.tmpl" \
		--outfile "$dir/c.pem" 2>/dev/null
	mkdir -p "$dir/state"
	cat >"$dir/m.conf" <<EOC
process = { allow_root = true; verbosity = 0; state_directory = "$dir/state"; };
resolver = {
	listen = [ "127.0.0.1:$SM" ];
	dns_servers = [ "127.0.0.1" ];
	zones = ( { name = "postfix"; } );
};
admin = { listen = "127.0.0.1:$ADM"; };
publisher = {
	listen = [ "127.0.0.1:$PUB" ];
	http_listen = [ ];${extra:+
	$extra}
	domains = ( { domain = "rss.test"; mode = "enforce"; max_age = 604800;
	              mx = [ "mail.rss.test" ]; cert = "$dir/c.pem"; key = "$dir/k.pem"; } );
};
EOC
}
