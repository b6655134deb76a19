// A machine's network interface as /api/v1 answers it: the region builds it
// (cloud/domain/machines/interface-kinds.ts, which narrows `type` to its kinds), the CLI reads it.

export interface InterfaceJson {
  id: number;
  name: string;
  type: string;
  mac: string;
  vlan_id: number | null;
  mtu: number | null;
  effective_mtu: number;
  enabled: boolean;
  params: Record<string, unknown>;
  parents: string[];
  children: string[];
  is_boot: boolean;
}
