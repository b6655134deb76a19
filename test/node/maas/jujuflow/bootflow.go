// Boot sources as automation reads them through gomaasapi, which has no typed boot-source API:
// its generic MAASObject client adds a source with the keyring uploaded as a file (multipart, as
// gomaasapi sends files), adds a selection with repeated arches fields, then walks boot-sources/
// and each source's selections/ and prints what it read, for the test to compare with what
// /api/v1 holds.
package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/juju/gomaasapi"
)

func runBootSources(base, key, keyringFile string) {
	client, err := gomaasapi.NewAuthenticatedClient(gomaasapi.AddAPIVersionToURL(base, "2.0"), key)
	if err != nil {
		fail("src-connect", err)
	}
	maas := gomaasapi.NewMAAS(*client)
	keyring, err := os.ReadFile(keyringFile)
	if err != nil {
		fail("src-create", err)
	}

	res, err := maas.GetSubObject("boot-sources/").CallPostFiles("", url.Values{"url": {"http://juju-mirror.test/streams/v1/"}, "keyring_filename": {""}}, map[string][]byte{"keyring_data": keyring})
	if err != nil {
		fail("src-create", err)
	}
	src, _ := res.GetMap()
	id := intField(src, "id")
	back, _ := src["keyring_data"].GetString()
	raw, err := base64.StdEncoding.DecodeString(back)
	if err != nil {
		fail("src-create", fmt.Errorf("keyring_data is not base64: %v", err))
	}
	ok("src-create", "keyring back as sent %v", string(raw) == string(keyring))

	f := &netFlow{maas: maas}
	sel, err := f.post(fmt.Sprintf("boot-sources/%d/selections/", id), "", url.Values{"os": {"ubuntu"}, "release": {"noble"}, "arches": {"amd64", "arm64"}})
	if err != nil {
		fail("sel-create", err)
	}
	if bs := intField(sel, "boot_source_id"); bs != id {
		fail("sel-create", fmt.Errorf("boot_source_id %d, not %d", bs, id))
	}
	ok("sel-create", "%s", selectionText(sel))

	_, err = f.post(fmt.Sprintf("boot-sources/%d/selections/", id), "", url.Values{"os": {"ubuntu"}, "release": {"noble"}})
	ok("sel-refuse-duplicate", "%s", refused("sel-refuse-duplicate", err))
	_, err = f.post("boot-sources/", "", url.Values{"url": {"http://juju-unsigned.test/"}})
	ok("src-refuse-unsigned", "%s", refused("src-refuse-unsigned", err))

	list, err := maas.GetSubObject("boot-sources/").CallGet("", nil)
	if err != nil {
		fail("src-list", err)
	}
	sources, _ := list.GetArray()
	var out []string
	for _, s := range sources {
		m, _ := s.GetMap()
		u, _ := m["url"].GetString()
		k, _ := m["keyring_data"].GetString()
		sid := intField(m, "id")
		sels, err := maas.GetSubObject(fmt.Sprintf("boot-sources/%d/selections/", sid)).CallGet("", nil)
		if err != nil {
			fail("src-list", err)
		}
		arr, _ := sels.GetArray()
		var texts []string
		for _, x := range arr {
			xm, _ := x.GetMap()
			texts = append(texts, selectionText(xm))
		}
		out = append(out, fmt.Sprintf("%s keyring %s selections [%s]", u, k, strings.Join(texts, "; ")))
	}
	sort.Strings(out)
	for _, line := range out {
		ok("src-read", "%s", line)
	}

	if err := maas.GetSubObject(fmt.Sprintf("boot-sources/%d/", id)).Delete(); err != nil {
		fail("src-delete", err)
	}
	_, err = maas.GetSubObject(fmt.Sprintf("boot-sources/%d/", id)).Get()
	ok("src-delete", "then %s", refused("src-delete", err))
	fmt.Println("boot source flow passed")
}

func selectionText(m map[string]gomaasapi.JSONObject) string {
	osName, _ := m["os"].GetString()
	release, _ := m["release"].GetString()
	arr, _ := m["arches"].GetArray()
	var arches []string
	for _, a := range arr {
		s, _ := a.GetString()
		arches = append(arches, s)
	}
	return fmt.Sprintf("%s/%s arches %s", osName, release, strings.Join(arches, ","))
}
