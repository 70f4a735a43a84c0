import { useApolloClient, useMutation, useQuery, useSubscription } from "@apollo/client/react";
import { useEffect, useState, useSyncExternalStore, type FormEvent } from "react";
import { restartSocket } from "./apollo";
import { readableError } from "./errors";
import { graphql } from "./gql";
import { getSession, onSessionChange, setSession } from "./session";

const Register = graphql(`
  mutation Register($input: RegisterInput!) { register(input: $input) { email } }
`);
const VerifyEmail = graphql(`
  mutation VerifyEmail($token: String!) {
    verifyEmail(input: { token: $token }) { accessToken refreshToken user { username } }
  }
`);
const Login = graphql(`
  mutation Login($identifier: String!, $password: String!) {
    login(input: { identifier: $identifier, password: $password }) { accessToken refreshToken user { username } }
  }
`);
const Me = graphql(`
  query Me {
    currentUser {
      userId
      username
      memberships(first: 50) { nodes { organization { organizationId name } } }
    }
  }
`);
const SwitchOrganization = graphql(`
  mutation SwitchOrganization($organizationId: UUID) {
    switchOrganization(input: { organizationId: $organizationId }) { accessToken }
  }
`);
const Unread = graphql(`
  query Unread {
    outboxNotifications(first: 10, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {
      aggregates { distinctCount { notificationId } }
      nodes { notificationId message createdAt }
    }
  }
`);
const NotificationAdded = graphql(`
  subscription NotificationAdded { notificationAdded { notification { notificationId message } } }
`);
const MarkRead = graphql(`
  mutation MarkRead($id: BigInt!, $readAt: Datetime!) {
    updateOutboxNotification(input: { notificationId: $id, patch: { readAt: $readAt } }) { outboxNotification { notificationId readAt } }
  }
`);
const Accounts = graphql(`
  query Accounts { ledgerAccounts(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { accountId name code currency balance } } }
`);
const Statement = graphql(`
  query Statement($accountId: BigInt!, $after: Cursor, $fromVersion: BigInt!) {
    ledgerEntries(
      first: 3
      after: $after
      filter: { accountId: { equalTo: $accountId }, accountVersion: { greaterThanOrEqualTo: $fromVersion } }
      orderBy: ACCOUNT_VERSION_ASC
    ) {
      totalCount
      aggregates { sum { amount } }
      pageInfo { hasNextPage endCursor }
      nodes { accountVersion amount balanceAfter }
    }
  }
`);

function useSession() {
  return useSyncExternalStore(onSessionChange, getSession);
}

function ErrorText({ error }: { error: unknown }) {
  return error ? <p role="alert" className="error">{readableError(error)}</p> : null;
}

function SignIn() {
  const [mode, setMode] = useState<"signIn" | "register">("signIn");
  const [identifier, setIdentifier] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [login] = useMutation(Login);
  const [register] = useMutation(Register);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      if (mode === "register") {
        const { data } = await register({ variables: { input: { username: identifier, email, password } } });
        setSent(data?.register?.email ?? email);
      } else {
        const { data } = await login({ variables: { identifier, password } });
        const payload = data?.login;
        if (payload?.refreshToken) setSession({ accessToken: payload.accessToken, refreshToken: payload.refreshToken, username: payload.user?.username ?? identifier });
      }
    } catch (failure) {
      setError(failure);
    }
  };
  if (sent) {
    return (
      <section>
        <h2>Check your e-mail</h2>
        <p>
          We sent a link to <b>{sent}</b>. In development the mail is a file under <code>.groundwork/mail/</code>: open its link (start the
          API with <code>APP_URL=http://localhost:5173</code> so it points here).
        </p>
      </section>
    );
  }
  return (
    <form onSubmit={submit} aria-label={mode === "register" ? "Register" : "Sign in"}>
      <h2>{mode === "register" ? "Register" : "Sign in"}</h2>
      <label>
        {mode === "register" ? "Username" : "E-mail or username"}
        <input name="identifier" value={identifier} onChange={(e) => setIdentifier(e.target.value)} required />
      </label>
      {mode === "register" && (
        <label>
          E-mail
          <input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
        </label>
      )}
      <label>
        Password
        <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      </label>
      <button type="submit">{mode === "register" ? "Register" : "Sign in"}</button>
      <button type="button" onClick={() => setMode(mode === "register" ? "signIn" : "register")}>
        {mode === "register" ? "I have an account" : "Create an account"}
      </button>
      <ErrorText error={error} />
    </form>
  );
}

/** /verify-email?token=… (the link of the confirmation mail): verifies and signs in. */
function VerifyFromLink({ token }: { token: string }) {
  const [verify, { error }] = useMutation(VerifyEmail);
  useEffect(() => {
    verify({ variables: { token } })
      .then(({ data }) => {
        const payload = data?.verifyEmail;
        if (payload?.refreshToken) setSession({ accessToken: payload.accessToken, refreshToken: payload.refreshToken, username: payload.user?.username ?? "" });
        history.replaceState(null, "", "/");
      })
      .catch(() => undefined);
  }, [token, verify]);
  return error ? <ErrorText error={error} /> : <p>Verifying your e-mail…</p>;
}

function Organizations() {
  const { data, error } = useQuery(Me);
  const [switchTo, switching] = useMutation(SwitchOrganization);
  const client = useApolloClient();
  const [current, setCurrent] = useState<string>("");
  const change = async (organizationId: string) => {
    const { data: switched } = await switchTo({ variables: { organizationId: organizationId || null } });
    const session = getSession();
    if (session && switched?.switchOrganization) {
      // The refresh token stays; it now refreshes into the chosen organization.
      setSession({ ...session, accessToken: switched.switchOrganization.accessToken });
      setCurrent(organizationId);
      restartSocket();
      await client.refetchQueries({ include: "active" });
    }
  };
  return (
    <section>
      <h2>Organization</h2>
      <ErrorText error={error ?? switching.error} />
      <select aria-label="Organization" value={current} onChange={(e) => void change(e.target.value)}>
        <option value="">(none)</option>
        {data?.currentUser?.memberships.nodes.map((m) =>
          m?.organization ? (
            <option key={m.organization.organizationId} value={m.organization.organizationId}>
              {m.organization.name}
            </option>
          ) : null,
        )}
      </select>
      {current && <p data-testid="current-organization">Acting in {data?.currentUser?.memberships.nodes.find((m) => m?.organization?.organizationId === current)?.organization?.name}</p>}
    </section>
  );
}

function Notifications() {
  const { data, error, refetch } = useQuery(Unread, { fetchPolicy: "network-only" });
  // A new notification: re-query the unread list and counter (docs/realtime.md).
  useSubscription(NotificationAdded, { onData: () => void refetch() });
  const [markRead, marking] = useMutation(MarkRead);
  const unread = data?.outboxNotifications?.aggregates?.distinctCount?.notificationId ?? "0";
  return (
    <section>
      <h2>
        Notifications <span data-testid="unread-count">{unread}</span> unread
      </h2>
      <ErrorText error={error ?? marking.error} />
      <ul>
        {data?.outboxNotifications?.nodes.map((n) =>
          n ? (
            <li key={n.notificationId}>
              {n.message}{" "}
              <button type="button" onClick={async () => { await markRead({ variables: { id: n.notificationId, readAt: new Date().toISOString() } }); await refetch(); }}>
                Mark as read
              </button>
            </li>
          ) : null,
        )}
      </ul>
    </section>
  );
}

function Ledger() {
  const accounts = useQuery(Accounts);
  const [accountId, setAccountId] = useState<string | null>(null);
  const [fromVersion, setFromVersion] = useState("1");
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const chosen = accountId ?? accounts.data?.ledgerAccounts?.nodes[0]?.accountId ?? null;
  const statement = useQuery(Statement, { variables: { accountId: chosen ?? "0", after, fromVersion: fromVersion || "1" }, skip: !chosen });
  const page = statement.data?.ledgerEntries;
  return (
    <section>
      <h2>Ledger statement</h2>
      <ErrorText error={accounts.error ?? statement.error} />
      <select aria-label="Account" value={chosen ?? ""} onChange={(e) => { setAccountId(e.target.value); setCursors([null]); }}>
        {accounts.data?.ledgerAccounts?.nodes.map((a) =>
          a ? (
            <option key={a.accountId} value={a.accountId}>
              {a.name} ({a.currency}) balance {a.balance}
            </option>
          ) : null,
        )}
      </select>
      <label>
        From version
        <input aria-label="From version" value={fromVersion} inputMode="numeric" onChange={(e) => { setFromVersion(e.target.value.replace(/\D/g, "")); setCursors([null]); }} />
      </label>
      {page && (
        <>
          <p>
            <span data-testid="entry-count">{page.totalCount}</span> entries, total <span data-testid="entry-sum">{page.aggregates?.sum?.amount ?? "0"}</span>
          </p>
          <table>
            <thead>
              <tr><th>#</th><th>amount</th><th>balance</th></tr>
            </thead>
            <tbody data-testid="statement">
              {page.nodes.map((e) => (e ? <tr key={e.accountVersion}><td>{e.accountVersion}</td><td>{e.amount}</td><td>{e.balanceAfter}</td></tr> : null))}
            </tbody>
          </table>
          <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
          <button type="button" disabled={!page.pageInfo.hasNextPage} onClick={() => setCursors([...cursors, page.pageInfo.endCursor ?? null])}>Next</button>
        </>
      )}
    </section>
  );
}

export function App() {
  const session = useSession();
  const client = useApolloClient();
  const verifyToken = location.pathname === "/verify-email" ? new URLSearchParams(location.search).get("token") : null;
  useEffect(() => {
    restartSocket();
    void client.resetStore().catch(() => undefined);
  }, [session?.username, client]);
  return (
    <main>
      <h1>Groundwork example</h1>
      {verifyToken && !session ? (
        <VerifyFromLink token={verifyToken} />
      ) : !session ? (
        <SignIn />
      ) : (
        <>
          <p>
            Signed in as <b data-testid="username">{session.username}</b>{" "}
            <button type="button" onClick={() => setSession(null)}>Sign out</button>
          </p>
          <Organizations />
          <Notifications />
          <Ledger />
        </>
      )}
    </main>
  );
}
