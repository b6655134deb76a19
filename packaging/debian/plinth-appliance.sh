#!/bin/sh
# plinth-appliance as the Debian package installs it: the bundled appliance under the Node runtime
# the package carries (Debian's nodejs is older than the appliance needs).
# Settings, strongest first: the command line, the environment, /etc/plinth/appliance.conf, then
# the package's defaults below. The service starts through this script too, so `enrol` and
# `status` by hand use the state directory it uses.
set -e
lib=/usr/lib/plinth-appliance
conf=/etc/plinth/appliance.conf

if [ -r "$conf" ]; then
	caller=$(export -p)
	set -a
	. "$conf"
	set +a
	eval "$caller"
elif [ -e "$conf" ]; then
	echo "plinth-appliance: $conf is not readable by $(id -un) (it is root:plinth 0640); its settings are not applied" >&2
fi
export PLINTH_STATE_DIR="${PLINTH_STATE_DIR:-/var/lib/plinth}"
export PLINTH_TFTP_ROOT="${PLINTH_TFTP_ROOT:-$PLINTH_STATE_DIR/tftp}"

# Run by root, these would leave the credential and journals root's, unreadable by the service.
case "$1" in
enrol | status)
	if [ "$(id -u)" = 0 ] && getent passwd plinth >/dev/null; then
		exec setpriv --reuid=plinth --regid=plinth --init-groups -- /usr/bin/plinth-appliance "$@"
	fi
	;;
esac
exec "$lib/node" "$lib/plinth-appliance.mjs" "$@"
