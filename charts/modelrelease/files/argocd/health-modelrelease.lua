-- Argo CD health of a ModelRelease (modelrelease.dev), read from the status its operator
-- writes (docs/gitops.md has the table):
--   Pending, Progressing  -> Progressing  the operator is deploying or rolling out
--   Paused                -> Suspended    waiting for a person: promote, resume, spec.paused
--   Succeeded             -> Healthy      the candidate serves all traffic, or the stable
--                                         does with no candidate to roll out
--   RolledBack, Failed    -> Degraded     needs a new candidate (or a retry)
-- Argo CD runs this without Lua's string library: only concatenation builds the message.
local health = {}
local status = obj.status
if status == nil or status.phase == nil then
  health.status = "Progressing"
  health.message = "waiting for the modelrelease operator"
  return health
end
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  -- A change from git the operator has not acted on yet: what status says is about
  -- the previous spec.
  health.status = "Progressing"
  health.message = "waiting for the operator to observe generation " .. generation
  return health
end
local phases = {
  Pending = "Progressing",
  Progressing = "Progressing",
  Paused = "Suspended",
  Succeeded = "Healthy",
  RolledBack = "Degraded",
  Failed = "Degraded",
}
health.status = phases[status.phase] or "Unknown"
local message = status.message
if message == nil or message == "" then
  message = status.phase
end
if status.phase == "Pending" then
  message = "Pending: " .. message
elseif status.phase == "Progressing" or status.phase == "Paused" then
  -- Where the rollout is, as the Reconciling condition says it: "stage 2/4, 25% on v2".
  local stage = status.stage or "?"
  if stage == "" then
    stage = "?"
  end
  message = "stage " .. stage .. ", " .. (status.candidateWeight or 0) .. "% on "
    .. (status.candidateVersion or "the candidate") .. ": " .. message
end
health.message = message
return health
