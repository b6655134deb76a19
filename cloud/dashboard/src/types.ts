// Shapes of the region's JSON as the dashboard reads them (see /api/v1/openapi.json).
import type { Role } from "../../../shared/roles";

export interface SessionUser {
  username: string;
  csrf_token: string;
  expires_at: number;
  is_admin: boolean;
  roles: { role: Role; site_id: number | null; site: string | null }[];
}

export interface Machine {
  system_id: string;
  hostname: string;
  fqdn: string;
  description: string;
  status: number;
  status_name: string;
  status_message: string;
  owner: string | null;
  architecture: string;
  cpu_count: number;
  cpu_model: string;
  cpu_speed: number;
  memory: number;
  storage: number;
  boot_mac: string | null;
  firmware: string;
  osystem: string;
  distro_series: string;
  power_type: string;
  power_parameters_set: string[];
  power_state: "on" | "off" | "unknown" | "error";
  power_checked_at: number | null;
  site: string;
  zone: string;
  pool: string;
  rack_id: string | null;
  /** The rack that saw the machine's last DHCP discover or boot request (absent on an older region). */
  boot_rack?: { id: string; hostname: string | null; at: number } | null;
  tags: string[];
  locked: boolean;
  hardware_uuid: string | null;
  allowed_actions: string[];
  created_at: number;
  updated_at: number;
  interfaces?: {
    id: number;
    name: string;
    mac: string;
    type: string;
    ip_address: string | null;
    link_mode: string;
    driver: string;
    speed_mbps: number;
    link_connected: boolean;
    is_boot: boolean;
  }[];
  block_devices?: { id: number; name: string; path: string; model: string; serial: string; size: number; rotational: boolean; is_boot: boolean }[];
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
  next_before?: number | null;
}

export interface RegionEvent {
  id: number;
  system_id: string | null;
  hostname: string | null;
  site_id: number | null;
  type: string;
  level: string;
  actor: string;
  from_status: number | null;
  to_status: number | null;
  description: string;
  created_at: number;
}

export interface Named {
  id: number;
  name: string;
  description?: string;
}
