/* eslint-disable */
import * as types from './graphql';
import { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation Register($input: RegisterInput!) { register(input: $input) { email } }\n": typeof types.RegisterDocument,
    "\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(input: { token: $token }) { accessToken refreshToken user { username } }\n  }\n": typeof types.VerifyEmailDocument,
    "\n  mutation Login($identifier: String!, $password: String!) {\n    login(input: { identifier: $identifier, password: $password }) { accessToken refreshToken user { username } }\n  }\n": typeof types.LoginDocument,
    "\n  query Me {\n    currentUser {\n      userId\n      username\n      memberships(first: 50) { nodes { organization { organizationId name } } }\n    }\n  }\n": typeof types.MeDocument,
    "\n  mutation SwitchOrganization($organizationId: UUID) {\n    switchOrganization(input: { organizationId: $organizationId }) { accessToken }\n  }\n": typeof types.SwitchOrganizationDocument,
    "\n  query Unread {\n    outboxNotifications(first: 10, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {\n      aggregates { distinctCount { notificationId } }\n      nodes { notificationId message createdAt }\n    }\n  }\n": typeof types.UnreadDocument,
    "\n  subscription NotificationAdded { notificationAdded { notification { notificationId message } } }\n": typeof types.NotificationAddedDocument,
    "\n  mutation MarkRead($id: BigInt!, $readAt: Datetime!) {\n    updateOutboxNotification(input: { notificationId: $id, patch: { readAt: $readAt } }) { outboxNotification { notificationId readAt } }\n  }\n": typeof types.MarkReadDocument,
    "\n  query Accounts { ledgerAccounts(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { accountId name code currency balance } } }\n": typeof types.AccountsDocument,
    "\n  query Statement($accountId: BigInt!, $after: Cursor, $fromVersion: BigInt!) {\n    ledgerEntries(\n      first: 3\n      after: $after\n      filter: { accountId: { equalTo: $accountId }, accountVersion: { greaterThanOrEqualTo: $fromVersion } }\n      orderBy: ACCOUNT_VERSION_ASC\n    ) {\n      totalCount\n      aggregates { sum { amount } }\n      pageInfo { hasNextPage endCursor }\n      nodes { accountVersion amount balanceAfter }\n    }\n  }\n": typeof types.StatementDocument,
    "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(input: { refreshToken: $refreshToken }) { accessToken refreshToken }\n  }\n": typeof types.RefreshSessionDocument,
};
const documents: Documents = {
    "\n  mutation Register($input: RegisterInput!) { register(input: $input) { email } }\n": types.RegisterDocument,
    "\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(input: { token: $token }) { accessToken refreshToken user { username } }\n  }\n": types.VerifyEmailDocument,
    "\n  mutation Login($identifier: String!, $password: String!) {\n    login(input: { identifier: $identifier, password: $password }) { accessToken refreshToken user { username } }\n  }\n": types.LoginDocument,
    "\n  query Me {\n    currentUser {\n      userId\n      username\n      memberships(first: 50) { nodes { organization { organizationId name } } }\n    }\n  }\n": types.MeDocument,
    "\n  mutation SwitchOrganization($organizationId: UUID) {\n    switchOrganization(input: { organizationId: $organizationId }) { accessToken }\n  }\n": types.SwitchOrganizationDocument,
    "\n  query Unread {\n    outboxNotifications(first: 10, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {\n      aggregates { distinctCount { notificationId } }\n      nodes { notificationId message createdAt }\n    }\n  }\n": types.UnreadDocument,
    "\n  subscription NotificationAdded { notificationAdded { notification { notificationId message } } }\n": types.NotificationAddedDocument,
    "\n  mutation MarkRead($id: BigInt!, $readAt: Datetime!) {\n    updateOutboxNotification(input: { notificationId: $id, patch: { readAt: $readAt } }) { outboxNotification { notificationId readAt } }\n  }\n": types.MarkReadDocument,
    "\n  query Accounts { ledgerAccounts(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { accountId name code currency balance } } }\n": types.AccountsDocument,
    "\n  query Statement($accountId: BigInt!, $after: Cursor, $fromVersion: BigInt!) {\n    ledgerEntries(\n      first: 3\n      after: $after\n      filter: { accountId: { equalTo: $accountId }, accountVersion: { greaterThanOrEqualTo: $fromVersion } }\n      orderBy: ACCOUNT_VERSION_ASC\n    ) {\n      totalCount\n      aggregates { sum { amount } }\n      pageInfo { hasNextPage endCursor }\n      nodes { accountVersion amount balanceAfter }\n    }\n  }\n": types.StatementDocument,
    "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(input: { refreshToken: $refreshToken }) { accessToken refreshToken }\n  }\n": types.RefreshSessionDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Register($input: RegisterInput!) { register(input: $input) { email } }\n"): (typeof documents)["\n  mutation Register($input: RegisterInput!) { register(input: $input) { email } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(input: { token: $token }) { accessToken refreshToken user { username } }\n  }\n"): (typeof documents)["\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(input: { token: $token }) { accessToken refreshToken user { username } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Login($identifier: String!, $password: String!) {\n    login(input: { identifier: $identifier, password: $password }) { accessToken refreshToken user { username } }\n  }\n"): (typeof documents)["\n  mutation Login($identifier: String!, $password: String!) {\n    login(input: { identifier: $identifier, password: $password }) { accessToken refreshToken user { username } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    currentUser {\n      userId\n      username\n      memberships(first: 50) { nodes { organization { organizationId name } } }\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    currentUser {\n      userId\n      username\n      memberships(first: 50) { nodes { organization { organizationId name } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SwitchOrganization($organizationId: UUID) {\n    switchOrganization(input: { organizationId: $organizationId }) { accessToken }\n  }\n"): (typeof documents)["\n  mutation SwitchOrganization($organizationId: UUID) {\n    switchOrganization(input: { organizationId: $organizationId }) { accessToken }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Unread {\n    outboxNotifications(first: 10, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {\n      aggregates { distinctCount { notificationId } }\n      nodes { notificationId message createdAt }\n    }\n  }\n"): (typeof documents)["\n  query Unread {\n    outboxNotifications(first: 10, filter: { readAt: { isNull: true } }, orderBy: CREATED_AT_DESC) {\n      aggregates { distinctCount { notificationId } }\n      nodes { notificationId message createdAt }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription NotificationAdded { notificationAdded { notification { notificationId message } } }\n"): (typeof documents)["\n  subscription NotificationAdded { notificationAdded { notification { notificationId message } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation MarkRead($id: BigInt!, $readAt: Datetime!) {\n    updateOutboxNotification(input: { notificationId: $id, patch: { readAt: $readAt } }) { outboxNotification { notificationId readAt } }\n  }\n"): (typeof documents)["\n  mutation MarkRead($id: BigInt!, $readAt: Datetime!) {\n    updateOutboxNotification(input: { notificationId: $id, patch: { readAt: $readAt } }) { outboxNotification { notificationId readAt } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Accounts { ledgerAccounts(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { accountId name code currency balance } } }\n"): (typeof documents)["\n  query Accounts { ledgerAccounts(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { accountId name code currency balance } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Statement($accountId: BigInt!, $after: Cursor, $fromVersion: BigInt!) {\n    ledgerEntries(\n      first: 3\n      after: $after\n      filter: { accountId: { equalTo: $accountId }, accountVersion: { greaterThanOrEqualTo: $fromVersion } }\n      orderBy: ACCOUNT_VERSION_ASC\n    ) {\n      totalCount\n      aggregates { sum { amount } }\n      pageInfo { hasNextPage endCursor }\n      nodes { accountVersion amount balanceAfter }\n    }\n  }\n"): (typeof documents)["\n  query Statement($accountId: BigInt!, $after: Cursor, $fromVersion: BigInt!) {\n    ledgerEntries(\n      first: 3\n      after: $after\n      filter: { accountId: { equalTo: $accountId }, accountVersion: { greaterThanOrEqualTo: $fromVersion } }\n      orderBy: ACCOUNT_VERSION_ASC\n    ) {\n      totalCount\n      aggregates { sum { amount } }\n      pageInfo { hasNextPage endCursor }\n      nodes { accountVersion amount balanceAfter }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(input: { refreshToken: $refreshToken }) { accessToken refreshToken }\n  }\n"): (typeof documents)["\n  mutation RefreshSession($refreshToken: String!) {\n    refreshSession(input: { refreshToken: $refreshToken }) { accessToken refreshToken }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;