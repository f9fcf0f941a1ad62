-- Argo CD health of a ModelTraining (modelrelease.dev), read from the status its operator
-- writes (docs/gitops.md has the table):
--   Pending, Running   -> Progressing  the Job is waiting for a node or training
--   Succeeded          -> Healthy      trained, evaluated and through the quality gate
--   Rejected, Failed   -> Degraded     a training never changes again: commit a new one
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
  health.status = "Progressing"
  health.message = "waiting for the operator to observe generation " .. generation
  return health
end
local phases = {
  Pending = "Progressing",
  Running = "Progressing",
  Succeeded = "Healthy",
  Rejected = "Degraded",
  Failed = "Degraded",
}
health.status = phases[status.phase] or "Unknown"
local message = status.message
if message == nil or message == "" then
  message = status.phase
end
if health.status == "Progressing" then
  message = status.phase .. ": " .. message
end
health.message = message
return health
