import { describe, expect, it } from "vitest";
import { negotiate } from "../../../appliance/tftp/options";

describe("TFTP option negotiation", () => {
  it("no options: RFC 1350 defaults and no OACK", () => {
    expect(negotiate({}, 100)).toEqual({ blksize: 512, windowsize: 1, timeout: null, oack: null });
  });
  it("acknowledges blksize, tsize with the real size, timeout, windowsize", () => {
    const n = negotiate({ blksize: "1468", tsize: "0", timeout: "3", windowsize: "64" }, 123456);
    expect(n).toEqual({
      blksize: 1468,
      windowsize: 64,
      timeout: 3,
      oack: { blksize: "1468", timeout: "3", tsize: "123456", windowsize: "64" },
    });
  });
  it("caps blksize at 65464 and at the site limit", () => {
    expect(negotiate({ blksize: "65535" }, 1).blksize).toBe(65464);
    expect(negotiate({ blksize: "9000" }, 1, { maxBlksize: 1468, maxWindowsize: 8 }).oack).toEqual({ blksize: "1468" });
  });
  it("caps windowsize at the site limit", () => {
    expect(negotiate({ windowsize: "4096" }, 1, { maxBlksize: 1468, maxWindowsize: 16 }).windowsize).toBe(16);
  });
  it("drops values out of range or not numbers instead of failing the request", () => {
    const n = negotiate({ blksize: "7", timeout: "0", windowsize: "0", tsize: "x" }, 10);
    expect(n).toEqual({ blksize: 512, windowsize: 1, timeout: null, oack: null });
    expect(negotiate({ blksize: "-1", timeout: "256" }, 10).oack).toBeNull();
    expect(negotiate({ blksize: "1e3" }, 10).oack).toBeNull();
  });
  it("leaves tsize out when the size is not known ahead", () => {
    expect(negotiate({ tsize: "0", blksize: "512" }, null).oack).toEqual({ blksize: "512" });
  });

  it("leaves tsize out for an empty file (curl rejects tsize 0), with no OACK when it was the only option", () => {
    expect(negotiate({ tsize: "0", blksize: "1468" }, 0).oack).toEqual({ blksize: "1468" });
    expect(negotiate({ tsize: "0" }, 0).oack).toBeNull();
  });
  it("ignores unknown options", () => {
    expect(negotiate({ multicast: "", rollover: "0" }, 10).oack).toBeNull();
  });
});
