// The shell: who is signed in, the navigation, the live-connection indicator, and the view.
import { useCallback, useEffect, useState } from "react";
import { ApiProblem, api, setCsrfToken, whenSessionEnds } from "./api";
import { ErrorBoundary, ErrorBox } from "./components/bits";
import { startLive, stopLive, useLiveState } from "./live";
import { canAnywhere } from "./perms";
import { linkProps, navigate, useLocation } from "./router";
import type { SessionUser } from "./types";
import { DnsView } from "./views/Dns";
import { EventsView } from "./views/Events";
import { ImagesView } from "./views/Images";
import { KeysView } from "./views/Keys";
import { MachineDetail } from "./views/MachineDetail";
import { MachinesView } from "./views/Machines";
import { NetworksView } from "./views/Networks";
import { Overview } from "./views/Overview";
import { NamedView } from "./views/Named";
import { RackDetail, RacksView } from "./views/Racks";
import { SettingsView } from "./views/Settings";
import { SignIn } from "./views/SignIn";
import { TagsView } from "./views/Tags";
import { TokensView } from "./views/Tokens";
import { UsersView } from "./views/Users";

export function App() {
  const [user, setUser] = useState<SessionUser | null>(null);
  const [checking, setChecking] = useState(true);
  const [ended, setEnded] = useState("");
  const [error, setError] = useState<unknown>(null);

  const adopt = useCallback((u: SessionUser | null) => {
    setUser(u);
    setCsrfToken(u?.csrf_token ?? "");
    if (u) startLive();
    else stopLive();
  }, []);

  const check = useCallback(() => {
    setError(null);
    api<SessionUser>("GET", "/session")
      .then((u) => adopt(u))
      .catch((e) => {
        if (e instanceof ApiProblem && e.status === 401) adopt(null);
        else setError(e);
      })
      .finally(() => setChecking(false));
  }, [adopt]);

  useEffect(() => {
    whenSessionEnds((why) => {
      setEnded(why);
      adopt(null);
    });
    check();
  }, [adopt, check]);

  if (checking) return <div className="splash">Plinth</div>;
  if (error) {
    return (
      <div className="splash">
        <ErrorBox error={error} onRetry={check} />
      </div>
    );
  }
  if (!user) {
    return (
      <SignIn
        notice={ended}
        onSignedIn={(u) => {
          setEnded("");
          adopt(u);
        }}
      />
    );
  }
  return <Shell user={user} onSignOut={() => adopt(null)} />;
}

const NAV: { to: string; label: string; admin?: boolean }[] = [
  { to: "/", label: "Overview" },
  { to: "/machines", label: "Machines" },
  { to: "/racks", label: "Racks" },
  { to: "/images", label: "Images" },
  { to: "/networks", label: "Networks" },
  { to: "/tags", label: "Tags" },
  { to: "/zones", label: "Zones, pools & sites" },
  { to: "/dns", label: "DNS" },
  { to: "/tokens", label: "Enrolment tokens", admin: true },
  { to: "/users", label: "Users & roles", admin: true },
  { to: "/events", label: "Events" },
  { to: "/keys", label: "Keys" },
  { to: "/settings", label: "Settings" },
];

function Shell({ user, onSignOut }: { user: SessionUser; onSignOut: () => void }) {
  const { path } = useLocation();
  const live = useLiveState();
  const signOut = async () => {
    await api("DELETE", "/session").catch(() => {});
    navigate("/", true);
    onSignOut();
  };
  const admin = canAnywhere(user, "user.manage");
  const section = path === "/" ? "/" : `/${path.split("/")[1]}`;
  return (
    <div className="shell">
      <nav className="side">
        <div className="brand">
          <span className="logo">▰</span> Plinth
        </div>
        {NAV.filter((n) => !n.admin || admin).map((n) => (
          <a key={n.to} {...linkProps(n.to)} className={section === n.to ? "active" : ""}>
            {n.label}
          </a>
        ))}
        <div className="side-foot">
          <div className={`live live-${live}`} data-testid="live" title="Live updates from the region">
            <span className="dot" />
            {live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
          </div>
          <div className="who">
            <strong>{user.username}</strong>
            <span>{user.roles.map((r) => `${r.role}${r.site ? ` @ ${r.site}` : ""}`).join(", ") || "no roles"}</span>
          </div>
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </div>
      </nav>
      <main className="content">
        <ErrorBoundary key={section}>
          <View path={path} user={user} />
        </ErrorBoundary>
      </main>
    </div>
  );
}

function View({ path, user }: { path: string; user: SessionUser }) {
  const m = /^\/machines\/([a-z0-9]{6})$/.exec(path);
  if (m) return <MachineDetail systemId={m[1]!} user={user} />;
  const rack = /^\/racks\/([A-Za-z0-9_-]+)$/.exec(path);
  if (rack) return <RackDetail rackId={rack[1]!} user={user} />;
  switch (path) {
    case "/":
      return <Overview />;
    case "/machines":
      return <MachinesView user={user} />;
    case "/racks":
      return <RacksView />;
    case "/images":
      return <ImagesView />;
    case "/tags":
      return <TagsView user={user} />;
    case "/zones":
      return <NamedView user={user} />;
    case "/networks":
      return <NetworksView user={user} />;
    case "/tokens":
      return <TokensView />;
    case "/users":
      return <UsersView />;
    case "/events":
      return <EventsView />;
    case "/keys":
      return <KeysView user={user} />;
    case "/dns":
      return <DnsView user={user} />;
    case "/settings":
      return <SettingsView user={user} />;
    default:
      return <div className="empty">No page at {path}. Use the menu on the left.</div>;
  }
}
