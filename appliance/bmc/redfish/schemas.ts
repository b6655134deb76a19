// What we read from a BMC, parsed rather than trusted. Only the fields the driver uses are
// declared; everything else a vendor adds passes through untouched (zod strips it).
import { z } from "zod";

const Link = z.object({ "@odata.id": z.string().startsWith("/") });

export const ServiceRoot = z.object({
  Systems: Link.optional(),
  SessionService: Link.optional(),
  Links: z.object({ Sessions: Link.optional() }).optional(),
});

export const Collection = z.object({
  Members: z.array(Link),
});

export const SessionServiceSchema = z.object({
  Sessions: Link.optional(),
});

export const ResetAction = z.object({
  target: z.string().startsWith("/"),
  "ResetType@Redfish.AllowableValues": z.array(z.string()).optional(),
  "@Redfish.ActionInfo": z.string().startsWith("/").optional(),
});

export const ActionInfo = z.object({
  Parameters: z.array(z.object({ Name: z.string(), AllowableValues: z.array(z.string()).optional() })).optional(),
});

export const ComputerSystem = z.object({
  "@odata.id": z.string().optional(),
  Id: z.string().optional(),
  PowerState: z.string().nullable().optional(),
  IndicatorLED: z.string().nullable().optional(),
  LocationIndicatorActive: z.boolean().nullable().optional(),
  Boot: z
    .object({
      BootSourceOverrideTarget: z.string().nullable().optional(),
      "BootSourceOverrideTarget@Redfish.AllowableValues": z.array(z.string()).optional(),
      BootSourceOverrideEnabled: z.string().nullable().optional(),
      BootSourceOverrideMode: z.string().nullable().optional(),
    })
    .optional(),
  Actions: z.object({ "#ComputerSystem.Reset": ResetAction.optional() }).optional(),
});
export type ComputerSystem = z.infer<typeof ComputerSystem>;

export const RedfishErrorBody = z.object({
  error: z.object({
    code: z.string().optional(),
    message: z.string().optional(),
    "@Message.ExtendedInfo": z.array(z.object({ MessageId: z.string().optional(), Message: z.string().optional() })).optional(),
  }),
});
