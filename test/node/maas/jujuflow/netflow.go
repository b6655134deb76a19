// The network half of issue 15 as a MAAS client sees it: a space, a tagged VLAN and two
// subnets made through the API, then on an allocated machine a bond over its two NICs, a VLAN
// interface on the bond, an AUTO link on the VLAN interface and a STATIC one on the bond, all
// read back through gomaasapi's typed Machine/Interface API, and the refusals MAAS gives; then
// deploy (the AUTO link gets its address, the network is frozen) and release (the AUTO address
// goes back, the design stays).
//
// gomaasapi's typed API has no CreateBond or CreateVLAN, and its LinkSubnetArgs.Validate
// refuses AUTO, so those go through its low-level MAASObject client, as Juju does for what the
// typed API lacks; everything else (Fabrics, Spaces, Interface.Update, Interface.LinkSubnet,
// Machine.InterfaceSet) is the typed API.
package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/juju/gomaasapi"
)

const (
	netSpace    = "juju-net"
	bondCIDR    = "10.77.0.0/24"
	bondAddress = "10.77.0.10"
	vlanCIDR    = "10.42.0.0/24"
	vlanVID     = 42
)

type netFlow struct {
	ctrl gomaasapi.Controller
	maas *gomaasapi.MAASObject
}

// post calls a MAAS op through the low-level client and answers the JSON object it returns.
func (f *netFlow) post(path, op string, params url.Values) (map[string]gomaasapi.JSONObject, error) {
	obj := f.maas.GetSubObject(path)
	var res gomaasapi.JSONObject
	var err error
	if op == "" {
		res, err = obj.Post(params)
	} else {
		res, err = obj.CallPost(op, params)
	}
	if err != nil {
		return nil, err
	}
	return res.GetMap()
}

func intField(m map[string]gomaasapi.JSONObject, key string) int {
	v, err := m[key].GetFloat64()
	if err != nil {
		fail("json", fmt.Errorf("%s: %v", key, err))
	}
	return int(v)
}

// refused expects a 4xx from the region and answers its status and body.
func refused(step string, err error) string {
	if err == nil {
		fail(step, fmt.Errorf("accepted"))
	}
	se, ok := gomaasapi.GetServerError(err)
	if !ok || se.StatusCode < 400 || se.StatusCode >= 500 {
		fail(step, fmt.Errorf("expected a 4xx, got %v", err))
	}
	return fmt.Sprintf("%d %s", se.StatusCode, se.BodyMessage)
}

func machineOf(ctrl gomaasapi.Controller, id string) gomaasapi.Machine {
	ms, err := ctrl.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{id}})
	if err != nil || len(ms) != 1 {
		fail("read-machine", fmt.Errorf("%v (%d)", err, len(ms)))
	}
	return ms[0]
}

func ifaceNamed(m gomaasapi.Machine, name string) gomaasapi.Interface {
	for _, i := range m.InterfaceSet() {
		if i.Name() == name {
			return i
		}
	}
	fail("interface", fmt.Errorf("%s has no interface %s", m.SystemID(), name))
	return nil
}

func sorted(s []string) string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return strings.Join(c, ",")
}

func linksOf(i gomaasapi.Interface) string {
	var out []string
	for _, l := range i.Links() {
		cidr := ""
		if l.Subnet() != nil {
			cidr = l.Subnet().CIDR()
		}
		out = append(out, fmt.Sprintf("%s %s %s", l.Mode(), cidr, l.IPAddress()))
	}
	return strings.Join(out, "; ")
}

func runNetwork(base, key, want string) {
	ctrl, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: base, APIKey: key})
	if err != nil {
		fail("net-connect", err)
	}
	client, err := gomaasapi.NewAuthenticatedClient(gomaasapi.AddAPIVersionToURL(base, "2.0"), key)
	if err != nil {
		fail("net-connect", err)
	}
	f := &netFlow{ctrl: ctrl, maas: gomaasapi.NewMAAS(*client)}

	// The networks, made as an operator's tooling makes them.
	if _, err := f.post("spaces/", "", url.Values{"name": {netSpace}}); err != nil {
		fail("net-create-networks", err)
	}
	if _, err := f.post("subnets/", "", url.Values{"cidr": {bondCIDR}, "gateway_ip": {"10.77.0.1"}}); err != nil {
		fail("net-create-networks", err)
	}
	fabrics, err := ctrl.Fabrics()
	if err != nil || len(fabrics) == 0 {
		fail("net-create-networks", fmt.Errorf("%v (%d fabrics)", err, len(fabrics)))
	}
	fabric := fabrics[0]
	for _, fb := range fabrics {
		if fb.Name() == "fabric-0" {
			fabric = fb
		}
	}
	fabricPath := fmt.Sprintf("fabrics/%d/vlans/", fabric.ID())
	if _, err := f.maas.GetSubObject(fabricPath + "0/").Update(url.Values{"space": {netSpace}}); err != nil {
		fail("net-create-networks", err)
	}
	v42, err := f.post(fabricPath, "", url.Values{"vid": {fmt.Sprint(vlanVID)}, "name": {"storage"}, "space": {netSpace}})
	if err != nil {
		fail("net-create-networks", err)
	}
	if _, err := f.post("subnets/", "", url.Values{"cidr": {vlanCIDR}, "vlan": {fmt.Sprint(intField(v42, "id"))}, "gateway_ip": {"10.42.0.1"}}); err != nil {
		fail("net-create-networks", err)
	}
	ok("net-create-networks", "space %s, VLAN %d on %s, subnets %s and %s", netSpace, vlanVID, fabric.Name(), bondCIDR, vlanCIDR)

	// Read back as Juju reads networks: fabrics with their VLANs, spaces with their subnets.
	fabrics, err = ctrl.Fabrics()
	if err != nil {
		fail("net-read-networks", err)
	}
	var untagged, tagged gomaasapi.VLAN
	for _, fb := range fabrics {
		if fb.ID() != fabric.ID() {
			continue
		}
		for _, v := range fb.VLANs() {
			switch v.VID() {
			case 0:
				untagged = v
			case vlanVID:
				tagged = v
			}
		}
	}
	if untagged == nil || tagged == nil || tagged.Fabric() != fabric.Name() {
		fail("net-read-networks", fmt.Errorf("fabric %s: untagged %v, vid %d %v", fabric.Name(), untagged, vlanVID, tagged))
	}
	spaces, err := ctrl.Spaces()
	if err != nil {
		fail("net-read-networks", err)
	}
	subnets := map[string]gomaasapi.Subnet{}
	for _, sp := range spaces {
		if sp.Name() == netSpace {
			for _, s := range sp.Subnets() {
				subnets[s.CIDR()] = s
			}
		}
	}
	bondSubnet, vlanSubnet := subnets[bondCIDR], subnets[vlanCIDR]
	if bondSubnet == nil || vlanSubnet == nil || vlanSubnet.VLAN().VID() != vlanVID || vlanSubnet.Space() != netSpace {
		fail("net-read-networks", fmt.Errorf("space %s has %v", netSpace, subnets))
	}
	ok("net-read-networks", "%s vid %d name %s; %s: %s on vid %d gateway %s", fabric.Name(), tagged.VID(), tagged.Name(), netSpace, vlanSubnet.CIDR(), vlanSubnet.VLAN().VID(), vlanSubnet.Gateway())

	m, _, err := ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{Tags: []string{"juju-net"}, AgentName: "juju-net-model"})
	if err != nil {
		fail("net-allocate", err)
	}
	if m.SystemID() != want {
		fail("net-allocate", fmt.Errorf("got %s, want %s", m.SystemID(), want))
	}
	ok("net-allocate", "%s %s", m.SystemID(), m.StatusName())

	// The NICs onto the fabric's untagged VLAN: a VLAN interface needs a parent on its fabric.
	for _, name := range []string{"eth0", "eth1"} {
		i := ifaceNamed(m, name)
		if err := i.Update(gomaasapi.UpdateInterfaceArgs{VLAN: untagged}); err != nil {
			fail("net-connect-nics", err)
		}
		if i.VLAN() == nil || i.VLAN().ID() != untagged.ID() {
			fail("net-connect-nics", fmt.Errorf("%s on %v", name, i.VLAN()))
		}
	}
	ok("net-connect-nics", "eth0 eth1 on %s", untagged.Name())

	eth0, eth1 := ifaceNamed(m, "eth0"), ifaceNamed(m, "eth1")
	ifaces := fmt.Sprintf("nodes/%s/interfaces/", want)
	bond, err := f.post(ifaces, "create_bond", url.Values{
		"name":        {"bond0"},
		"parents":     {fmt.Sprint(eth0.ID()), fmt.Sprint(eth1.ID())},
		"bond_mode":   {"active-backup"},
		"bond_miimon": {"100"},
	})
	if err != nil {
		fail("net-create-bond", err)
	}
	bondID := intField(bond, "id")
	ok("net-create-bond", "bond0 id %d", bondID)

	vif, err := f.post(ifaces, "create_vlan", url.Values{"parent": {fmt.Sprint(bondID)}, "vlan": {fmt.Sprint(tagged.ID())}})
	if err != nil {
		fail("net-create-vlan", err)
	}
	vifName, _ := vif["name"].GetString()
	vifID := intField(vif, "id")
	ok("net-create-vlan", "%s id %d", vifName, vifID)

	if _, err := f.post(fmt.Sprintf("%s%d/", ifaces, vifID), "link_subnet", url.Values{"mode": {"AUTO"}, "subnet": {fmt.Sprint(vlanSubnet.ID())}}); err != nil {
		fail("net-link-auto", err)
	}
	ok("net-link-auto", "%s AUTO %s", vifName, vlanCIDR)

	m = machineOf(ctrl, want)
	if err := ifaceNamed(m, "bond0").LinkSubnet(gomaasapi.LinkSubnetArgs{Mode: gomaasapi.LinkModeStatic, Subnet: bondSubnet, IPAddress: bondAddress, DefaultGateway: true}); err != nil {
		fail("net-link-static", err)
	}
	ok("net-link-static", "bond0 STATIC %s", bondAddress)

	// What MAAS refuses, and the region must too (4xx, nothing changed).
	_, err = f.post(ifaces, "create_vlan", url.Values{"parent": {fmt.Sprint(vifID)}, "vlan": {fmt.Sprint(tagged.ID())}})
	ok("net-refuse-vlan-on-vlan", "%s", refused("net-refuse-vlan-on-vlan", err))
	_, err = f.post(ifaces, "create_bond", url.Values{"name": {"bond1"}, "parents": {fmt.Sprint(eth0.ID())}})
	ok("net-refuse-bonded-nic", "%s", refused("net-refuse-bonded-nic", err))
	err = ifaceNamed(m, "bond0").LinkSubnet(gomaasapi.LinkSubnetArgs{Mode: gomaasapi.LinkModeStatic, Subnet: bondSubnet, IPAddress: "10.99.0.5"})
	if !gomaasapi.IsBadRequestError(err) {
		fail("net-refuse-outside", fmt.Errorf("expected a BadRequestError, got %v", err))
	}
	ok("net-refuse-outside", "BadRequestError")

	// Everything read back through the typed API, from a fresh listing.
	m = machineOf(ctrl, want)
	var names []string
	for _, i := range m.InterfaceSet() {
		names = append(names, i.Name()+"="+i.Type())
	}
	ok("net-read-interfaces", "%s", sorted(names))
	b, v := ifaceNamed(m, "bond0"), ifaceNamed(m, vifName)
	for _, nic := range []string{"eth0", "eth1"} {
		i := ifaceNamed(m, nic)
		if i.Type() != "physical" || sorted(i.Children()) != "bond0" || len(i.Links()) != 0 {
			fail("net-read-interfaces", fmt.Errorf("%s: %s children %v links %s", nic, i.Type(), i.Children(), linksOf(i)))
		}
	}
	ok("net-read-bond", "%s parents %s children %s mac %s vlan %d links %s", b.Type(), sorted(b.Parents()), sorted(b.Children()), b.MACAddress(), b.VLAN().VID(), linksOf(b))
	ok("net-read-vlan", "%s parents %s vid %d mac %s links %s", v.Type(), sorted(v.Parents()), v.VLAN().VID(), v.MACAddress(), linksOf(v))

	// The bond's mode and miimon are in its params, which the typed API does not read.
	raw, err := f.maas.GetSubObject(fmt.Sprintf("%s%d/", ifaces, bondID)).Get()
	if err != nil {
		fail("net-read-params", err)
	}
	params, err := raw.GetMap()["params"].GetMap()
	if err != nil {
		fail("net-read-params", err)
	}
	mode, _ := params["bond_mode"].GetString()
	miimon, _ := params["bond_miimon"].GetFloat64()
	ok("net-read-params", "bond_mode %s bond_miimon %d", mode, int(miimon))

	// Deploying gives the AUTO link its address; the network is then frozen until release.
	res, err := f.ctrl.BootResources()
	if err != nil || amd64Image(res) == "" {
		fail("net-deploy", fmt.Errorf("no amd64 image: %v", err))
	}
	if err := m.Start(gomaasapi.StartArgs{DistroSeries: amd64Image(res), Comment: "network flow"}); err != nil {
		fail("net-deploy", err)
	}
	m = machineOf(ctrl, want)
	ok("net-deploy", "%s %s links %s; ip_addresses %s", m.StatusName(), vifName, linksOf(ifaceNamed(m, vifName)), sorted(m.IPAddresses()))
	_, err = f.post(fmt.Sprintf("%s%d/", ifaces, bondID), "link_subnet", url.Values{"mode": {"DHCP"}, "subnet": {fmt.Sprint(bondSubnet.ID())}})
	ok("net-refuse-deployed", "%s", refused("net-refuse-deployed", err))

	// Release gives the AUTO address back and keeps the operator's design.
	if err := ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{want}}); err != nil {
		fail("net-release", err)
	}
	m = machineOf(ctrl, want)
	ok("net-release", "%s bond0 links %s; %s links %s", m.StatusName(), linksOf(ifaceNamed(m, "bond0")), vifName, linksOf(ifaceNamed(m, vifName)))
	fmt.Println("network flow passed")
}
