import { jsonParse } from "postgraphile/@dataplan/json";
import { access, context, lambda, listen, type Step } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";
import type { AccessClaims } from "../src/server/jwt.ts";
import type { NotificationFeed } from "../src/server/notificationFeed.ts";
import { codedError } from "./errors.ts";

declare global {
  namespace Grafast {
    interface Context {
      /** The caller's verified JWT claims; null when anonymous. */
      jwtClaims: AccessClaims | null;
      /** How the operation arrived; subscriptions need a WebSocket. */
      transport: "http" | "websocket";
      /** notificationAdded's events, by user id (src/server/notificationFeed.ts). */
      notificationFeed: NotificationFeed | null;
    }
  }
}

/** What the feed hands a subscription: `{ "id": notification_id }`. */
type NotificationEvent = {
  id: number | string;
  event?: string;
};

/**
 * The topic is the verified `sub` claim only: an argument would let anyone
 * follow anyone else's notifications. Only a WebSocket is closed when its
 * token expires or its session is revoked, so an HTTP stream is refused.
 */
function topicOf({ claims, transport }: { claims: AccessClaims | null; transport: string }): string {
  if (transport !== "websocket") throw codedError("BAD_REQUEST", "Subscriptions are served over WebSocket only (graphql-ws on /graphql).");
  if (!claims?.sub) throw codedError("LOGIN", "Sign in to subscribe to your notifications.");
  return claims.sub;
}

/**
 * `Subscription.notificationAdded`: the API process's notification feed
 * (committed notifications of the caller, found by polling); each event
 * carries only an id, and the row is re-read by primary key in the
 * subscriber's transaction (role and claims), so RLS decides what arrives.
 */
export const RealtimePlugin = extendSchema((build) => {
  const notifications = Object.values(build.input.pgRegistry.pgResources).find(
    (resource) =>
      !resource.parameters &&
      resource.codec.extensions?.pg?.schemaName === "outbox" &&
      resource.codec.extensions?.pg?.name === "notifications",
  );
  if (!notifications) {
    throw new Error("RealtimePlugin: the outbox.notifications table was not introspected; is the outbox schema exposed and migrated?");
  }
  const notificationType = build.inflection.tableType(notifications.codec);

  return {
    typeDefs: gql`
      "One event of \`notificationAdded\`."
      type NotificationAddedPayload {
        """
        The new notification, read as you: null if you may no longer see it
        (for instance your session was revoked after you subscribed).
        """
        notification: ${notificationType}
        "What happened: \`added\`."
        event: String
      }

      extend type Subscription {
        """
        Your new notifications, as they are committed. Requires a signed-in
        WebSocket (connectionParams \`{ authorization: "Bearer <token>" }\`);
        anonymous subscribers get LOGIN. See docs/realtime.md.
        """
        notificationAdded: NotificationAddedPayload
      }
    `,
    plans: {
      Subscription: {
        notificationAdded: {
          subscribePlan() {
            const $topic = lambda({ claims: context().get("jwtClaims"), transport: context().get("transport") }, topicOf);
            return listen(context().get("notificationFeed"), $topic, jsonParse<NotificationEvent>);
          },
          plan($event: Step) {
            return $event;
          },
        },
      },
      NotificationAddedPayload: {
        notification($event: Step<NotificationEvent>) {
          return notifications.get({ notification_id: access($event, "id") });
        },
        event($event: Step<NotificationEvent>) {
          return lambda($event, (event) => event?.event ?? "added", true);
        },
      },
    },
  };
});
