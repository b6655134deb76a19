// The account side of a region as automation sets it up before touching machines, through
// gomaasapi's low-level MAASObject client (its typed Controller has no users, keys or config):
// a user created and read back, an SSH key added, listed, read and deleted under
// account/prefs/sshkeys/, settings read and written with get_config/set_config, a refused
// set_config, the rack controllers listed, a device created, listed and deleted through the
// typed Controller, and the user deleted.
package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/juju/gomaasapi"
)

const accountKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnVr18cEoy1VaTHrjmyRFwNhFNFcUwwJ/fuHR6lmg4u juju@flow"

func runAccount(base, key string) {
	client, err := gomaasapi.NewAuthenticatedClient(gomaasapi.AddAPIVersionToURL(base, "2.0"), key)
	if err != nil {
		fail("acct-connect", err)
	}
	maas := gomaasapi.NewMAAS(*client)
	f := &netFlow{maas: maas}

	u, err := f.post("users/", "", url.Values{"username": {"juju-user"}, "email": {"juju@example.com"}, "password": {"correct horse"}, "is_superuser": {"0"}})
	if err != nil {
		fail("acct-create-user", err)
	}
	name, _ := u["username"].GetString()
	super, _ := u["is_superuser"].GetBool()
	ok("acct-create-user", "%s superuser=%v", name, super)
	_, err = f.post("users/", "", url.Values{"username": {"juju-user"}, "email": {""}, "password": {"correct horse"}})
	ok("acct-refuse-duplicate", "%s", refused("acct-refuse-duplicate", err))

	users, err := maas.GetSubObject("users/").CallGet("", nil)
	if err != nil {
		fail("acct-list-users", err)
	}
	list, _ := users.GetArray()
	found := false
	for _, x := range list {
		m, _ := x.GetMap()
		if n, _ := m["username"].GetString(); n == "juju-user" {
			found = true
		}
	}
	ok("acct-list-users", "juju-user listed=%v", found)

	k, err := f.post("account/prefs/sshkeys/", "", url.Values{"key": {accountKey}})
	if err != nil {
		fail("acct-add-sshkey", err)
	}
	id := intField(k, "id")
	ok("acct-add-sshkey", "id %d", id)
	keys, err := maas.GetSubObject("account/prefs/sshkeys/").CallGet("", nil)
	if err != nil {
		fail("acct-list-sshkeys", err)
	}
	kl, _ := keys.GetArray()
	ok("acct-list-sshkeys", "%d", len(kl))
	one, err := maas.GetSubObject(fmt.Sprintf("account/prefs/sshkeys/%d/", id)).Get()
	if err != nil {
		fail("acct-read-sshkey", err)
	}
	text, _ := one.GetField("key")
	ok("acct-read-sshkey", "%v", text == accountKey)
	if err := maas.GetSubObject(fmt.Sprintf("account/prefs/sshkeys/%d/", id)).Delete(); err != nil {
		fail("acct-delete-sshkey", err)
	}
	_, err = maas.GetSubObject(fmt.Sprintf("account/prefs/sshkeys/%d/", id)).Get()
	ok("acct-delete-sshkey", "then %s", refused("acct-delete-sshkey", err))

	config := maas.GetSubObject("maas/")
	get := func(name string) string {
		v, err := config.CallGet("get_config", url.Values{"name": {name}})
		if err != nil {
			fail("acct-get-config", err)
		}
		if s, err := v.GetString(); err == nil {
			return s
		}
		if b, err := v.GetBool(); err == nil {
			return fmt.Sprint(b)
		}
		n, _ := v.GetFloat64()
		return fmt.Sprint(n)
	}
	ok("acct-get-config", "%s/%s", get("default_osystem"), get("default_distro_series"))
	if _, err := config.CallPost("set_config", url.Values{"name": {"ntp_servers"}, "value": {"ntp.example.com"}}); err != nil {
		fail("acct-set-config", err)
	}
	if _, err := config.CallPost("set_config", url.Values{"name": {"enable_disk_erasing_on_release"}, "value": {"true"}}); err != nil {
		fail("acct-set-config", err)
	}
	ok("acct-set-config", "%s %s", get("ntp_servers"), get("enable_disk_erasing_on_release"))
	// Back as it was: the other flows release without erasing.
	if _, err := config.CallPost("set_config", url.Values{"name": {"enable_disk_erasing_on_release"}, "value": {"false"}}); err != nil {
		fail("acct-set-config", err)
	}
	_, err = config.CallPost("set_config", url.Values{"name": {"default_dns_ttl"}, "value": {"soon"}})
	ok("acct-refuse-config", "%s", refused("acct-refuse-config", err))

	racks, err := maas.GetSubObject("rackcontrollers/").CallGet("", nil)
	if err != nil {
		fail("acct-rack-controllers", err)
	}
	rl, _ := racks.GetArray()
	names := []string{}
	for _, x := range rl {
		m, _ := x.GetMap()
		n, _ := m["hostname"].GetString()
		names = append(names, n)
	}
	ok("acct-rack-controllers", "%s", strings.Join(names, ","))

	// Devices through the typed API, as Juju registers a container's NIC under its host.
	ctrl, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: base, APIKey: key})
	if err != nil {
		fail("acct-device", err)
	}
	dev, err := ctrl.CreateDevice(gomaasapi.CreateDeviceArgs{Hostname: "juju-lxd-0", MACAddresses: []string{"52:54:00:77:00:99"}, Parent: "jujun1"})
	if err != nil {
		fail("acct-device", err)
	}
	listed, err := ctrl.Devices(gomaasapi.DevicesArgs{Hostname: []string{"juju-lxd-0"}})
	if err != nil || len(listed) != 1 {
		fail("acct-device", fmt.Errorf("%v (%d devices)", err, len(listed)))
	}
	ifaces := listed[0].InterfaceSet()
	ok("acct-device", "%s parent %s mac %s", dev.Hostname(), listed[0].Parent(), ifaces[0].MACAddress())
	if err := dev.Delete(); err != nil {
		fail("acct-device-delete", err)
	}
	after, err := ctrl.Devices(gomaasapi.DevicesArgs{Hostname: []string{"juju-lxd-0"}})
	if err != nil {
		fail("acct-device-delete", err)
	}
	ok("acct-device-delete", "%d left", len(after))

	if err := maas.GetSubObject("users/juju-user/").Delete(); err != nil {
		fail("acct-delete-user", err)
	}
	_, err = maas.GetSubObject("users/juju-user/").Get()
	ok("acct-delete-user", "then %s", refused("acct-delete-user", err))
	fmt.Println("account flow passed")
}
