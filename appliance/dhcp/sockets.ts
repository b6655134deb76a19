// Device-bound UDP sockets, handed to us already open: by bind-device.pl (PLINTH_DHCP_FDS) or
// by systemd socket activation with BindToDevice= (LISTEN_FDS + LISTEN_FDNAMES "IFACE:PORT").
// Node's dgram cannot bind to a device itself, and a socket on 0.0.0.0:67 without it would
// both hear every interface (no IP_PKTINFO in node to tell them apart) and send its broadcasts
// out of whichever interface the routing table picks.
import dgram from "node:dgram";

export interface SocketSpec {
  iface: string;
  port: number;
  fd: number;
}

export function parseFdSpecs(env: NodeJS.ProcessEnv): SocketSpec[] {
  const out: SocketSpec[] = [];
  if (env.PLINTH_DHCP_FDS) {
    for (const part of env.PLINTH_DHCP_FDS.split(",")) {
      const [iface, port, fd] = part.split(":");
      if (!iface || !port || !fd) throw new Error(`bad PLINTH_DHCP_FDS entry "${part}"`);
      out.push({ iface, port: Number(port), fd: Number(fd) });
    }
  } else if (env.LISTEN_FDS && Number(env.LISTEN_PID) === process.pid) {
    const names = (env.LISTEN_FDNAMES ?? "").split(":");
    const n = Number(env.LISTEN_FDS);
    // FileDescriptorName= cannot hold ":", so systemd units name them "IFACE-PORT".
    for (let i = 0; i < n; i++) {
      const m = names[i]?.match(/^(.+)-(\d+)$/);
      if (!m) throw new Error(`socket-activated fd ${3 + i} needs FileDescriptorName=IFACE-PORT`);
      out.push({ iface: m[1]!, port: Number(m[2]), fd: 3 + i });
    }
  }
  return out;
}

export function adopt(spec: SocketSpec): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    s.once("error", reject);
    s.bind({ fd: spec.fd }, () => {
      s.off("error", reject);
      s.setBroadcast(true);
      resolve(s);
    });
  });
}
