// Juju's MAAS provider flow, driven through Juju's real MAAS client library (gomaasapi, as
// Debian ships it) against a region filled by `npm run seed` and nothing else: connect
// (version, whoami), the probes Juju makes (boot resources, zones, spaces, domains, fabrics,
// static routes), an operator's tag put on one Ready machine of the seeded fleet through the
// API, then allocate by that tag with constraints and agent_name, deploy the seeded image with
// user data, set owner data, list by agent_name and id, and release. Prints one "ok <step>"
// line per step and exits non-zero on the first failure.
//
// Usage: jujuflow <base URL ending in /MAAS/> <maas api key>
//
//	jujuflow network <base URL> <maas api key> <system_id tagged juju-net> (netflow.go)
//	jujuflow account <base URL> <maas api key> (accountflow.go)
//	jujuflow sources <base URL> <maas api key> <keyring file> (bootflow.go)
package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/juju/gomaasapi"
)

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

func ok(step string, format string, args ...interface{}) {
	fmt.Printf("ok %s: %s\n", step, fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) == 5 && os.Args[1] == "network" {
		runNetwork(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "sources" {
		runBootSources(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "account" {
		runAccount(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) != 3 {
		fmt.Println("usage: jujuflow <base URL> <api key>")
		os.Exit(2)
	}
	base, key := os.Args[1], os.Args[2]

	// A wrong key must be refused at connect time (whoami → 401 → PermissionError).
	if _, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: base, APIKey: "aaaa:bbbb:cccc"}); err == nil || !gomaasapi.IsPermissionError(err) {
		fail("bad-key", fmt.Errorf("expected a permission error, got %v", err))
	}
	ok("bad-key", "refused")

	ctrl, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: base, APIKey: key})
	if err != nil {
		fail("connect", err)
	}
	version, _, err := ctrl.APIVersionInfo()
	if err != nil {
		fail("version", err)
	}
	if !ctrl.Capabilities().Contains("network-deployment-ubuntu") {
		fail("capabilities", fmt.Errorf("missing network-deployment-ubuntu: %v", ctrl.Capabilities()))
	}
	ok("connect", "version %s", version)

	// The image to deploy is one the region lists: on a seeded development region that is what
	// the checkout built (the test disk, Debian), not Ubuntu.
	res, err := ctrl.BootResources()
	if err != nil || len(res) == 0 {
		fail("boot-resources", fmt.Errorf("%v (%d resources)", err, len(res)))
	}
	image := amd64Image(res)
	if image == "" {
		fail("boot-resources", fmt.Errorf("no amd64 image among %d", len(res)))
	}
	ok("boot-resources", "%d listed, deploying %s", len(res), image)

	zones, err := ctrl.Zones()
	if err != nil || len(zones) == 0 {
		fail("zones", fmt.Errorf("%v (%d zones)", err, len(zones)))
	}
	ok("zones", "%d", len(zones))

	spaces, err := ctrl.Spaces()
	if err != nil {
		fail("spaces", err)
	}
	ok("spaces", "%d", len(spaces))

	domains, err := ctrl.Domains()
	if err != nil || len(domains) == 0 || domains[0].Name() != "maas" {
		fail("domains", fmt.Errorf("%v %v", err, domains))
	}
	ok("domains", "%s", domains[0].Name())

	fabrics, err := ctrl.Fabrics()
	if err != nil || len(fabrics) == 0 {
		fail("fabrics", fmt.Errorf("%v (%d)", err, len(fabrics)))
	}
	ok("fabrics", "%d", len(fabrics))

	if _, err := ctrl.StaticRoutes(); err != nil {
		fail("static-routes", err)
	}
	ok("static-routes", "listed")

	all, err := ctrl.Machines(gomaasapi.MachinesArgs{})
	if err != nil || len(all) == 0 {
		fail("machines", fmt.Errorf("%v (%d)", err, len(all)))
	}
	var target gomaasapi.Machine
	for _, m := range all {
		if target == nil && m.StatusName() == "Ready" && strings.HasPrefix(m.Architecture(), "amd64/") && m.CPUCount() >= 8 && m.Memory() >= 16384 {
			target = m
		}
	}
	if target == nil {
		fail("machines", fmt.Errorf("no Ready amd64 machine among %d", len(all)))
	}
	want := target.SystemID()
	ok("machines", "%d", len(all))

	// The operator marks the machine for this model as they would with `maas admin tags create`
	// and update-nodes (gomaasapi's typed controller has no tag writes).
	client, err := gomaasapi.NewAuthenticatedClient(gomaasapi.AddAPIVersionToURL(base, "2.0"), key)
	if err != nil {
		fail("tag", err)
	}
	f := &netFlow{maas: gomaasapi.NewMAAS(*client)}
	if _, err := f.post("tags/", "", url.Values{"name": {"juju-flow"}, "comment": {"machines for the juju flow"}}); err != nil {
		fail("tag", err)
	}
	if _, err := f.post("tags/juju-flow/", "update_nodes", url.Values{"add": {want}}); err != nil {
		fail("tag", err)
	}
	ok("tag", "juju-flow on %s", want)

	// Nothing matches: a 409, which Juju reads as NoMatchError and tries elsewhere.
	_, _, err = ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{MinCPUCount: 100000, AgentName: "juju-model"})
	if !gomaasapi.IsNoMatchError(err) {
		fail("allocate-nomatch", fmt.Errorf("expected NoMatchError, got %v", err))
	}
	ok("allocate-nomatch", "NoMatchError")

	m, matches, err := ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{
		MinCPUCount: 8,
		MinMemory:   16384,
		Tags:        []string{"juju-flow"},
		Zone:        target.Zone().Name(),
		AgentName:   "juju-model",
		Comment:     "juju bootstrap",
		Storage:     []gomaasapi.StorageSpec{{Label: "root", Size: 20}},
	})
	if err != nil {
		fail("allocate", err)
	}
	if m.SystemID() != want {
		fail("allocate", fmt.Errorf("got %s, want %s", m.SystemID(), want))
	}
	if len(matches.Storage["root"]) != 1 {
		fail("allocate", fmt.Errorf("root storage match: %v", matches.Storage))
	}
	ok("allocate", "%s %s %s", m.SystemID(), m.Hostname(), m.StatusName())

	userData := base64.StdEncoding.EncodeToString([]byte("#cloud-config\nruncmd: [echo juju]\n"))
	if err := m.Start(gomaasapi.StartArgs{UserData: userData, DistroSeries: image, Comment: "juju deploy"}); err != nil {
		fail("deploy", err)
	}
	ok("deploy", "%s %s/%s", m.StatusName(), m.OperatingSystem(), m.DistroSeries())

	if err := m.SetOwnerData(map[string]string{"juju-controller-uuid": "c0ffee", "juju-is-controller": "true"}); err != nil {
		fail("set-owner-data", err)
	}
	ok("set-owner-data", "%v", m.OwnerData())

	mine, err := ctrl.Machines(gomaasapi.MachinesArgs{AgentName: "juju-model", SystemIDs: []string{want}, OwnerData: map[string]string{"juju-controller-uuid": "c0ffee"}})
	if err != nil || len(mine) != 1 || mine[0].StatusName() != "Deploying" {
		fail("list-filtered", fmt.Errorf("%v %d", err, len(mine)))
	}
	ok("list-filtered", "%s %s", mine[0].SystemID(), mine[0].StatusName())

	if err := ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{want}, Comment: "juju stop"}); err != nil {
		fail("release", err)
	}
	after, err := ctrl.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{want}})
	if err != nil || len(after) != 1 || after[0].StatusName() != "Ready" {
		fail("release", fmt.Errorf("%v %v", err, after))
	}
	ok("release", "%s", after[0].StatusName())
	fmt.Println("juju flow passed")
}

// amd64Image names the first amd64 boot resource ("custom/testdisk"), or "" when there is none.
func amd64Image(res []gomaasapi.BootResource) string {
	for _, r := range res {
		if strings.HasPrefix(r.Architecture(), "amd64/") {
			return r.Name()
		}
	}
	return ""
}
