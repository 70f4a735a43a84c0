import { registerUser, type TestApi } from "../../helpers/api.ts";

/** A new user owning a new organization, with a token acting in it. */
export async function organizationToken(api: TestApi, label: string): Promise<{ token: string; organizationId: string; userToken: string }> {
  const user = await registerUser(api, label);
  const created = await api.graphql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { organizationId } } }`,
    { input: { name: `Org ${label}`, slug: `${label}-${Date.now().toString(36)}`.toLowerCase() } }, user.accessToken);
  const organizationId = created.body.data?.createOrganization.organization.organizationId;
  const switched = await api.graphql(
    `mutation($input: SwitchOrganizationInput!) { switchOrganization(input: $input) { accessToken } }`, { input: { organizationId } }, user.accessToken);
  return { token: switched.body.data?.switchOrganization.accessToken, organizationId, userToken: user.accessToken };
}
