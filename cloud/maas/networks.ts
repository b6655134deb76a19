// The network resources, in the order the route table takes them: fabrics/, VLANs, spaces/,
// subnets/, ipranges/ and static-routes/, over the same tables as /api/v1's networks.
// Managing them needs network.manage (admin), per site for subnets and their ranges.
import { fabricHandlers } from "./fabrics";
import { ipAddressHandlers } from "./ipaddresses";
import { ipRangeHandlers } from "./ipranges";
import { spaceHandlers } from "./spaces";
import { staticRouteHandlers } from "./static-routes";
import { subnetHandlers } from "./subnets";
import type { Handler } from "./table";
import { vlanHandlers } from "./vlans";

export const networkHandlers: Handler[] = [
  ...fabricHandlers,
  ...vlanHandlers,
  ...spaceHandlers,
  ...subnetHandlers,
  ...ipRangeHandlers,
  ...ipAddressHandlers,
  ...staticRouteHandlers,
];
