import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";
import { ErrorLink } from "@apollo/client/link/error";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { print } from "graphql";
import { createClient, type Client } from "graphql-ws";
import { Observable } from "rxjs";
import { graphql } from "./gql";
import { getSession, setSession } from "./session";

const RefreshSession = graphql(`
  mutation RefreshSession($refreshToken: String!) {
    refreshSession(input: { refreshToken: $refreshToken }) { accessToken refreshToken }
  }
`);

/** Where the API is: same origin by default (the Vite proxy, or a server that serves both). */
export const graphqlUrl = new URL((window as { GROUNDWORK_GRAPHQL_URL?: string }).GROUNDWORK_GRAPHQL_URL ?? "/graphql", location.href);

let refreshing: Promise<string | null> | null = null;

/**
 * One refresh for everyone: concurrent requests that all failed with
 * UNAUTHENTICATED wait for the same refreshSession (the refresh token is
 * single-use: a second use would revoke the whole session family).
 */
export function refreshOnce(): Promise<string | null> {
  refreshing ??= (async () => {
    const session = getSession();
    if (!session) return null;
    try {
      const response = await fetch(graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: print(RefreshSession), variables: { refreshToken: session.refreshToken } }),
      });
      const body = (await response.json()) as { data?: { refreshSession?: { accessToken: string; refreshToken: string } | null } };
      const next = body.data?.refreshSession;
      if (!next) {
        setSession(null);
        return null;
      }
      setSession({ ...session, accessToken: next.accessToken, refreshToken: next.refreshToken });
      restartSocket();
      return next.accessToken;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

const authLink = new ApolloLink((operation, forward) => {
  const token = getSession()?.accessToken;
  operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  }));
  return forward(operation);
});

/** On UNAUTHENTICATED: refresh once (shared), then retry the operation once with the new token. */
const refreshLink = new ErrorLink(({ error, operation, forward }) => {
  // An expired token is refused before GraphQL runs: HTTP 401 with extensions.code UNAUTHENTICATED.
  const unauthenticated =
    (CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) ||
    (ServerError.is(error) && error.statusCode === 401);
  if (!unauthenticated || operation.getContext().retried || !getSession()) return;
  return new Observable((observer) => {
    refreshOnce().then((token) => {
      if (!token) {
        observer.error(error);
        return;
      }
      operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
        retried: true,
        headers: { ...headers, authorization: `Bearer ${token}` },
      }));
      forward(operation).subscribe(observer);
    }, (failure: unknown) => observer.error(failure));
  });
});

let socket: Client | null = null;
function makeSocket(): Client {
  const url = new URL(graphqlUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return createClient({
    url: url.toString(),
    lazy: true,
    // Read at every (re)connection: after a refresh the socket reconnects with the new token.
    connectionParams: () => {
      const token = getSession()?.accessToken;
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // Restarts after sign-in, refresh or a switch come quickly: no growing back-off for them.
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 500)),
    on: {
      closed: (event) => {
        const { code, reason } = event as CloseEvent;
        if (code !== 4499 && code !== 1000) console.warn(`subscription socket closed: ${code} ${reason}`);
      },
    },
  });
}
/** Sign-in, sign-out, refresh and organization switches change who the socket is: it starts over. */
export function restartSocket(): void {
  socket?.terminate();
}

const wsLink = new GraphQLWsLink((socket = makeSocket()));
const httpLink = new HttpLink({ uri: graphqlUrl.toString(), headers: { accept: "application/json" } });

export const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    },
    wsLink,
    ApolloLink.from([refreshLink, authLink, httpLink]),
  ),
});
