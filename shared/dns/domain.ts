// A DNS domain as /api/v1/domains answers it: the region builds it (cloud/domain/dns/store.ts),
// the dashboard reads it.

export interface DomainJson {
  id: number;
  name: string;
  authoritative: boolean;
  ttl: number | null;
  is_default: boolean;
  /** Counted as MAAS counts them: operators' records and addresses, and the machines and devices named in the domain. */
  resource_record_count: number;
}
