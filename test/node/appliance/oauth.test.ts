// OAuth 1.0 verification for the MAAS metadata API: the headers below are what python3-oauthlib
// (cloud-init's OAuth library) produces, and the HMAC-SHA1 one is the classic OAuth Core 1.0
// Appendix A example, whose signature is published.
import { describe, expect, it } from "vitest";
import { parseAuthorization, percentEncode, signatureBaseString, verifySignature } from "../../../appliance/metadata/oauth";

const CLASSIC_URL = "http://photos.example.net/photos?file=vacation.jpg&size=original";
const CLASSIC_HEADER =
  'OAuth oauth_nonce="kllo9940pd9333jh", oauth_timestamp="1191242096", oauth_version="1.0", oauth_signature_method="HMAC-SHA1", ' +
  'oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", oauth_signature="tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D"';
const CLASSIC_SECRETS = { consumerSecret: "kd94hf93k423kf44", tokenSecret: "pfkkdhi9sl3r4s00" };

const CLOUD_INIT_URL = "http://127.0.0.1:5248/MAAS/metadata/latest/user-data";
const CLOUD_INIT_HEADER =
  'OAuth oauth_nonce="123", oauth_timestamp="1700000000", oauth_version="1.0", oauth_signature_method="PLAINTEXT", ' +
  'oauth_consumer_key="ck", oauth_token="tk", oauth_signature="%26ts"';

describe("OAuth header parsing", () => {
  it("reads the parameters cloud-init sends, percent-decoded", () => {
    expect(parseAuthorization(CLOUD_INIT_HEADER)).toEqual({
      oauth_nonce: "123",
      oauth_timestamp: "1700000000",
      oauth_version: "1.0",
      oauth_signature_method: "PLAINTEXT",
      oauth_consumer_key: "ck",
      oauth_token: "tk",
      oauth_signature: "&ts",
    });
    expect(parseAuthorization('OAuth realm="", oauth_token="a"')).toEqual({ realm: "", oauth_token: "a" });
  });

  it("refuses what is not an OAuth header", () => {
    expect(parseAuthorization(undefined)).toBeNull();
    expect(parseAuthorization("Bearer abc")).toBeNull();
    expect(parseAuthorization("OAuth oauth_token=unquoted")).toBeNull();
    expect(parseAuthorization('OAuth oauth_token="a", oauth_token="b"')).toBeNull();
    expect(parseAuthorization('OAuth oauth_token="%zz"')).toBeNull();
    expect(parseAuthorization(`OAuth oauth_token="${"a".repeat(5000)}"`)).toBeNull();
  });
});

describe("signatures", () => {
  it("PLAINTEXT: the secrets themselves", () => {
    const params = parseAuthorization(CLOUD_INIT_HEADER)!;
    expect(verifySignature({ method: "GET", url: CLOUD_INIT_URL, params }, { consumerSecret: "", tokenSecret: "ts" })).toEqual({ ok: true });
    expect(verifySignature({ method: "GET", url: CLOUD_INIT_URL, params }, { consumerSecret: "", tokenSecret: "other" })).toEqual({
      ok: false,
      reason: "wrong signature",
    });
  });

  it("HMAC-SHA1: the published example verifies, and fails with the wrong secret, URL or method", () => {
    const params = parseAuthorization(CLASSIC_HEADER)!;
    expect(signatureBaseString({ method: "GET", url: CLASSIC_URL, params })).toBe(
      "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh" +
        "%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal",
    );
    expect(verifySignature({ method: "GET", url: CLASSIC_URL, params }, CLASSIC_SECRETS)).toEqual({ ok: true });
    expect(verifySignature({ method: "GET", url: CLASSIC_URL, params }, { ...CLASSIC_SECRETS, tokenSecret: "wrong" }).ok).toBe(false);
    expect(verifySignature({ method: "GET", url: CLASSIC_URL.replace("original", "small"), params }, CLASSIC_SECRETS).ok).toBe(false);
    expect(verifySignature({ method: "POST", url: CLASSIC_URL, params }, CLASSIC_SECRETS).ok).toBe(false);
    // The default port is not part of what was signed.
    expect(verifySignature({ method: "GET", url: CLASSIC_URL.replace(".net/", ".net:80/"), params }, CLASSIC_SECRETS)).toEqual({ ok: true });
  });

  it("refuses a missing signature, an unknown method and another OAuth version", () => {
    const params = parseAuthorization(CLOUD_INIT_HEADER)!;
    const secrets = { consumerSecret: "", tokenSecret: "ts" };
    const { oauth_signature: _, ...unsigned } = params;
    expect(verifySignature({ method: "GET", url: CLOUD_INIT_URL, params: unsigned }, secrets)).toEqual({ ok: false, reason: "no oauth_signature" });
    expect(verifySignature({ method: "GET", url: CLOUD_INIT_URL, params: { ...params, oauth_signature_method: "RSA-SHA1" } }, secrets).ok).toBe(false);
    expect(verifySignature({ method: "GET", url: CLOUD_INIT_URL, params: { ...params, oauth_version: "2.0" } }, secrets).ok).toBe(false);
  });

  it("percent-encodes as RFC 5849 says, not as encodeURIComponent does", () => {
    expect(percentEncode("a b!*'()~-._")).toBe("a%20b%21%2A%27%28%29~-._");
  });
});
